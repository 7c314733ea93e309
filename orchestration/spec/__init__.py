"""What is deployed: the one source both targets render (config, tables, functions, ASL, alarms, names).

Imports only ``lambdas`` and the standard and third-party libraries the CDK app also needs;
never the simulators, fault injection or the local engine.
"""
