"""What every benchmark writes beside its figures: the machine, its load, and where results go.

Figures measured on a loaded machine are depressed; a result without the load average next to
it cannot be compared with another, so every result file carries it.
"""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

RESULTS_DIR = Path(__file__).resolve().parent / "results"


class MachineInfo(BaseModel):
    """The machine and its load when a benchmark ran."""

    measured_at: str
    cpus: int
    python: str
    platform: str
    load_average_before: tuple[float, float, float]
    load_average_after: tuple[float, float, float] | None = None


def machine_info() -> MachineInfo:
    """The machine now; call ``finish`` on the result after the run for the load afterwards."""
    return MachineInfo(
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count() or 1,
        python=platform.python_version(),
        platform=platform.platform(),
        load_average_before=os.getloadavg(),
    )


def finish(info: MachineInfo) -> MachineInfo:
    """The same record with the load average after the run."""
    return info.model_copy(update={"load_average_after": os.getloadavg()})


def load_line(info: MachineInfo) -> str:
    """One line for tables: CPUs and the 1/5/15-minute load before and after."""
    before = ", ".join(f"{x:.2f}" for x in info.load_average_before)
    after = ", ".join(f"{x:.2f}" for x in info.load_average_after) if info.load_average_after else "n/a"
    return f"{info.cpus} CPUs, load average before {before}, after {after} ({info.measured_at})"


def write_results(kind: str, payload: BaseModel, markdown: str, directory: Path = RESULTS_DIR) -> list[Path]:
    """Write ``<kind>-<timestamp>`` and ``<kind>-latest`` as JSON and markdown; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    written = []
    for name in (f"{kind}-{stamp}", f"{kind}-latest"):
        json_path = directory / f"{name}.json"
        json_path.write_text(payload.model_dump_json(indent=2) + "\n")
        md_path = directory / f"{name}.md"
        md_path.write_text(markdown + "\n")
        written += [json_path, md_path]
    return written
