"""The wheel carries every package and the top-level data folders, and ledgerflow finds them where it runs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from orchestration.spec import resources
from orchestration.spec.asl import PROCESS_TRANSACTIONS
from orchestration.spec.config import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def package_dir(name: str) -> Path:
    mapped = SETUPTOOLS.get("package-dir", {})
    return ROOT / mapped[name] if name in mapped else ROOT / name.replace(".", "/")


def test_every_python_package_of_the_tree_is_in_the_wheel() -> None:
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("orchestration", "lambdas")
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    listed = set(SETUPTOOLS["packages"])
    assert on_disk <= listed, f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"
    for name in listed:
        assert package_dir(name).is_dir(), f"{name}: {package_dir(name)} does not exist"


def test_the_data_folders_ship_with_their_files() -> None:
    data = SETUPTOOLS["package-data"]
    shipped = {
        name: sorted(path.name for pattern in patterns for path in package_dir(name).glob(pattern))
        for name, patterns in data.items()
    }
    assert "process_transactions.asl.json" in shipped["orchestration.resources.state_machines"]
    assert {"dev.yaml", "local.yaml"} <= set(shipped["orchestration.resources.config"])
    assert {"coefficients.json", "prices.json"} <= set(shipped["orchestration.planning.data"])


def test_a_checkout_reads_its_top_level_folders() -> None:
    assert resources.folder("state_machines") == ROOT / "state_machines"
    assert resources.folder("config") == ROOT / "config" == CONFIG_DIR
    assert PROCESS_TRANSACTIONS == ROOT / "state_machines" / "process_transactions.asl.json"


def test_an_installed_package_reads_its_own_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the wheel put the folders (``orchestration/resources/``), they win over any checkout."""
    installed = tmp_path / "orchestration"
    (installed / "resources" / "config").mkdir(parents=True)
    monkeypatch.setattr(resources, "files", lambda package: installed)
    assert resources.folder("config") == installed / "resources" / "config"
