"""The worked example of the mapping-rules page is true: its rules load, its record maps to its journal,
and the finance simulator accepts that journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from lambdas.finance_client import FinanceClient, PostResult
from lambdas.journal import Journal
from lambdas.transform import to_journal
from orchestration.sim.finance import FinanceSimulator
from orchestration.spec.config import config_path, load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_the_mileage_claim_rules_map_the_example_record_to_the_example_journal(tmp_path: Path) -> None:
    raw: dict[str, Any] = yaml.safe_load(config_path("local").read_text())
    raw["processes"] |= yaml.safe_load((EXAMPLES / "mileage_claim.yaml").read_text())
    path = tmp_path / "with-mileage.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path=path)
    record = json.loads((EXAMPLES / "mileage_record.json").read_text())

    journal = to_journal(record, config.process_settings("mileage_claim"))

    assert journal.model_dump(mode="json") == json.loads((EXAMPLES / "mileage_journal.json").read_text())
    with FinanceSimulator.for_config(config.finance) as finance, FinanceClient(finance.url, 2) as client:
        [answer] = client.post_entries([(f"mileage_claim:{journal.transaction_id}", journal)])
        assert isinstance(answer, PostResult) and not answer.duplicate
        [stored] = finance.ledger()
    assert Journal.model_validate(stored.model_dump(include=set(Journal.model_fields))) == journal
