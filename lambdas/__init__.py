"""Lambda handlers of ledgerflow: the deployed asset, importing only what the Lambda runtime has."""
