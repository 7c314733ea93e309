"""Benchmarks of the local engine and the data behind ``ledgerflow plan`` (not shipped in the package)."""
