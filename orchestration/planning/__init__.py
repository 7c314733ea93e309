"""``ledgerflow plan``: duration and monthly cost from measured coefficients and published prices."""
