"""Render every ASL file for every environment into a directory, for external validators.

``make test`` runs ``python -m orchestration.render build/asl`` and then the
``asl-validator`` npm package on the output: the files hold numeric placeholders, so only
rendered definitions are valid JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from orchestration.asl import PROCESS_TRANSACTIONS, DefinitionError, render, state_machine_name, substitutions
from orchestration.config import ConfigError, known_environments, load_config
from orchestration.engine.local import function_arn
from orchestration.functions import FUNCTIONS


def render_all(out: Path) -> list[Path]:
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
        print("usage: python -m orchestration.render OUTPUT_DIR", file=sys.stderr)
        return 2
    try:
        paths = render_all(Path(argv[0]))
    except (ConfigError, DefinitionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
