"""The local engine: moto's Step Functions interpreter running the real ASL and handlers in-process."""
