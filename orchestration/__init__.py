"""ledgerflow: Step Functions orchestration of HCM transactions into a legacy finance system."""
