"""CDK app of ledgerflow: data, orchestration and monitoring stacks built from ``config/<env>.yaml``.

The number of business processes is data (``lambdas/processes.json`` in the Lambda asset),
never infrastructure: adding a process adds no Lambda, no state machine and no alarm.
"""
