"""Every local fault, from the ``--faults`` string to its injection: profiles, scenarios, the driver, crashes."""
