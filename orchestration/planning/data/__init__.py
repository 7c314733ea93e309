"""Data files of ``ledgerflow plan``: measured per-unit coefficients and published AWS prices."""
