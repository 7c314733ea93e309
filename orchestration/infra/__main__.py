"""``cdk`` entry point (``cdk.json``): ``cdk synth -c env=dev``."""

from __future__ import annotations

import sys

from aws_cdk import App

from orchestration.infra.app import build_app, config_from_context, project_context
from orchestration.spec.config import ConfigError


def main() -> None:
    app = App(context=project_context())
    try:
        config = config_from_context(app)
    except ConfigError as exc:
        sys.exit(f"ledgerflow: {exc}")
    build_app(config, app=app).synth()


if __name__ == "__main__":
    main()
