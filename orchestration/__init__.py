"""ledgerflow: Step Functions orchestration of HCM transactions into a legacy finance system."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
