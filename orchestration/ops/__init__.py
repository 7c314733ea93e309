"""Operator logic that runs unchanged against AWS, ``ledgerflow local serve`` or moto.

Gates, the ledger, reconciliation and repair, over boto3 clients the caller builds; imports
``spec`` and ``lambdas`` only.
"""
