"""What every case shares: rows of the table, servers, CPU time, round alternation."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from callsheet.broker.process import NatsServerProcess

__all__ = [
    "Row",
    "Settings",
    "best",
    "cpu_seconds",
    "markdown",
    "nats_server",
    "pct",
    "rows_json",
]


@dataclass(frozen=True, slots=True)
class Settings:
    """How big and how long a run is.

    Attributes:
        quick: Small sizes, one or two rounds (for the suite's own test).
        rounds: Rounds per comparison (sides alternate from round to round).
        scale: Factor on the replay sizes (10k/100k/1M events at 1.0).
    """

    quick: bool = False
    rounds: int = 3
    scale: float = 1.0


@dataclass(slots=True)
class Row:
    """One line of the table: a figure of callsheet, the peer's, their ratio and the target.

    ``ratio`` is oriented so that higher is better for callsheet (rates: ours /
    theirs; latencies: theirs / ours). ``met`` is None where no target applies
    or the peer could not be measured.
    """

    case: str
    measure: str
    ours: str
    peer: str = ""
    theirs: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    data: dict[str, Any] = field(default_factory=dict)


def markdown(rows: list[Row]) -> str:
    """The rows as one Markdown table."""
    out = [
        "| case | measure | callsheet | peer | peer's | ratio | target | met |",
        "| --- | --- | ---: | --- | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
        met = {None: "", True: "yes", False: "**no**"}[r.met]
        out.append(
            f"| {r.case} | {r.measure} | {r.ours} | {r.peer} | {r.theirs} | {ratio} | "
            f"{r.target} | {met} |"
        )
    return "\n".join(out) + "\n"


def rows_json(rows: list[Row]) -> list[dict[str, Any]]:
    """The rows as plain data, for the JSON file."""
    return [asdict(r) for r in rows]


@contextlib.contextmanager
def nats_server(*, durable: bool = False) -> Iterator[NatsServerProcess]:
    """A private ``nats-server`` on a temporary store; ``durable``: fsync before each ack."""
    with tempfile.TemporaryDirectory(prefix="callsheet-bench-") as tmp:
        config = None
        if durable:
            config = Path(tmp) / "nats.conf"
            config.write_text("jetstream {\n  sync_interval: always\n}\n", encoding="utf-8")
        server = NatsServerProcess(Path(tmp) / "store", config_file=config)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    import os

    return ticks / os.sysconf("SC_CLK_TCK")


def pct(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def best(values: list[float]) -> float:
    """The best (highest) rate of the rounds; the median would hide nothing on a quiet box."""
    return max(values) if values else 0.0


def median(values: list[float]) -> float:
    """The median."""
    return statistics.median(values) if values else 0.0
