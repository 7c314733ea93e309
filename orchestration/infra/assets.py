"""The Lambda asset: the ``lambdas`` package plus the environment's ``lambdas/processes.json``.

The process settings are data bundled with the code (``lambdas/settings.py`` reads them), so
adding a business process changes one JSON file in the asset and no resource. The asset is
staged in a content-addressed directory under ``build/lambda-asset/`` (gitignored), outside
``cdk.out``; two synths of the same content share one directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path

from orchestration.spec.config import EnvironmentConfig

LAMBDAS_DIR = Path(str(files("lambdas")))
STAGING_ROOT = Path("build") / "lambda-asset"
PROCESSES_FILE = "processes.json"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", PROCESSES_FILE)


def processes_json(config: EnvironmentConfig) -> str:
    """``{process: settings}`` exactly as ``lambdas.settings`` loads it."""
    settings = {name: value.model_dump(mode="json") for name, value in config.all_settings().items()}
    return json.dumps(settings, indent=1, sort_keys=True) + "\n"


def _sources(source: Path) -> list[Path]:
    ignored_dirs = {"__pycache__"}
    return sorted(
        path
        for path in source.rglob("*")
        if path.is_file()
        and not ignored_dirs.intersection(path.relative_to(source).parts)
        and path.suffix != ".pyc"
        and path.name != PROCESSES_FILE
    )


def _digest(source: Path, processes: str) -> str:
    digest = hashlib.sha256()
    for path in _sources(source):
        digest.update(path.relative_to(source).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update(processes.encode())
    return digest.hexdigest()[:20]


def stage_lambda_code(
    config: EnvironmentConfig, *, source: Path = LAMBDAS_DIR, staging_root: Path = STAGING_ROOT
) -> Path:
    """Return a directory holding ``lambdas/`` (code plus ``processes.json``) for ``Code.from_asset``."""
    processes = processes_json(config)
    staging_root = staging_root.resolve()
    target = staging_root / _digest(source, processes)
    if (target / "lambdas" / PROCESSES_FILE).is_file():
        return target
    staging_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".stage-", dir=staging_root))
    try:
        shutil.copytree(source, scratch / "lambdas", ignore=_IGNORED)
        (scratch / "lambdas" / PROCESSES_FILE).write_text(processes)
        try:
            os.rename(scratch, target)
        except OSError:
            # Another synth staged the same content first: its copy is identical.
            if not (target / "lambdas" / PROCESSES_FILE).is_file():
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(scratch)
    return target
