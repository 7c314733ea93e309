"""Loading, substituting and checking the ASL files in ``state_machines/``.

The files hold ``${Placeholder}`` DefinitionSubstitutions, some of them numeric, so a
file is not valid JSON until rendered. Both targets render the same file: CDK passes the
substitutions to CloudFormation, the local engine applies them here.

``python -m orchestration.spec.asl OUTPUT_DIR`` renders every definition of every environment
for external validators (``make test`` runs the ``asl-validator`` npm package on them).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from orchestration.errors import USAGE, LedgerflowError
from orchestration.spec.config import EnvironmentConfig, RetryProfile, known_environments, load_config
from orchestration.spec.functions import FUNCTIONS, TASK_FUNCTIONS
from orchestration.spec.names import function_arn, state_machine_name
from orchestration.spec.resources import folder

STATE_MACHINES_DIR = folder("state_machines")
PROCESS_TRANSACTIONS = STATE_MACHINES_DIR / "process_transactions.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")


class DefinitionError(LedgerflowError):
    """An ASL file cannot be rendered: the message names the file and the placeholder."""

    exit_code = USAGE


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def render(path: Path, substitutions: dict[str, str]) -> dict[str, Any]:
    """Apply substitutions to an ASL file; a missing or unused one is an error naming it."""
    text = path.read_text()
    wanted = placeholders(text)
    missing = sorted(wanted - substitutions.keys())
    unused = sorted(substitutions.keys() - wanted)
    if missing:
        raise DefinitionError(f"{path.name}: no substitution for placeholder(s) {', '.join(missing)}")
    if unused:
        raise DefinitionError(f"{path.name}: substitution(s) {', '.join(unused)} not used by the definition")
    rendered = PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)
    try:
        definition: dict[str, Any] = json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise DefinitionError(f"{path.name}: not valid JSON after substitution: {exc}") from exc
    return definition


def retry_substitutions(profile: RetryProfile) -> dict[str, str]:
    values: dict[str, str] = {}
    for label, rule in (
        ("Throttled", profile.throttled),
        ("Overloaded", profile.overloaded),
        ("Unavailable", profile.unavailable),
    ):
        values[f"{label}IntervalSeconds"] = str(rule.interval_seconds)
        values[f"{label}BackoffRate"] = json.dumps(rule.backoff_rate)
        values[f"{label}MaxAttempts"] = str(rule.max_attempts)
        values[f"{label}MaxDelaySeconds"] = str(rule.max_delay_seconds)
    return values


def substitutions(config: EnvironmentConfig, profile: str, function_arns: dict[str, str]) -> dict[str, str]:
    """Every DefinitionSubstitution of ``process_transactions``: function ARNs and retry settings.

    ``function_arns`` maps a task function's short name (see ``orchestration.spec.functions``) to
    its ARN, a CloudFormation token under CDK or a moto ARN locally; functions outside the
    ASL (the run trigger) may be in it and are ignored.
    """
    values = {spec.placeholder: function_arns[spec.name] for spec in TASK_FUNCTIONS if spec.placeholder}
    values.update(retry_substitutions(config.retry_profiles[profile]))
    return values


def render_all(out: Path) -> list[Path]:
    """Every definition of every shipped environment and retry profile, written to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for env in known_environments():
        config = load_config(env)
        arns = {spec.name: function_arn(config, spec) for spec in FUNCTIONS}
        for profile in config.used_profiles():
            definition = render(PROCESS_TRANSACTIONS, substitutions(config, profile, arns))
            path = out / f"{state_machine_name(config, profile)}.asl.json"
            path.write_text(json.dumps(definition, indent=2))
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m orchestration.spec.asl OUTPUT_DIR", file=sys.stderr)
        return 2
    try:
        paths = render_all(Path(argv[0]))
    except LedgerflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
