"""Logger, Metrics and Tracer shared by the handlers, configured by Powertools env vars."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

NAMESPACE = "Ledgerflow"

logger = Logger(service="ledgerflow")
metrics = Metrics(namespace=NAMESPACE, service="ledgerflow")
tracer = Tracer(service="ledgerflow")
