"""The project's data folders, ``state_machines/`` and ``config/``, wherever ledgerflow is installed.

Both folders live at the top of the repository, where they are edited. A wheel carries them
inside the package (``orchestration/resources/<folder>``, mapped from the top-level folders in
``pyproject.toml``) and they are found there with ``importlib.resources``; a checkout, or an
editable install of one, has no such copy and reads the top-level folders themselves.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

Folder = Literal["state_machines", "config"]

CHECKOUT_ROOT = Path(__file__).resolve().parents[2]
"""The repository root when this module runs from a checkout (site-packages in a wheel install)."""


def folder(name: Folder) -> Path:
    """The directory holding the project's ``name`` files: the wheel's copy, else the checkout's."""
    packaged = files("orchestration") / "resources" / name
    if packaged.is_dir():
        return Path(str(packaged))
    return CHECKOUT_ROOT / name
