"""Drivers of a whole run: on the embedded engine, against an endpoint, and ``ledgerflow local serve``."""
