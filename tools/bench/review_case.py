"""The ``review`` case: ``callsheet review`` on a fixed large codebase (``tools.bench_review``)."""

from __future__ import annotations

import subprocess
import sys

from tools.bench.common import Row, Settings

__all__ = ["review"]


def review(settings: Settings) -> list[Row]:
    """Wall time of the review next to its tools run one after the other; the rows it prints."""
    package = "ulid" if settings.quick else "setuptools"
    args = [sys.executable, "-m", "tools.bench_review", "--package", package, "--workers", "2"]
    args += ["--rounds", "1" if settings.quick else "2"]
    if settings.quick:
        args += ["--perspectives", "style"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [Row("review", f"callsheet review of {package}", f"failed: {last[:120]}")]
    lines = done.stdout.splitlines()
    table = [line for line in lines if line.startswith("| review")]
    header = lines[0] if lines else package
    rows = []
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append(
            Row(
                "review",
                f"{cells[0]}: {header}",
                cells[1],
                "tools one after the other",
                "",
                float(cells[2]),
                "orchestration < 10 %",
                float(cells[3].rstrip(" %")) < 10,
                data={"orchestration": cells[3], "stdout": done.stdout[-4000:]},
            )
        )
    return rows or [Row("review", f"callsheet review of {package}", "no table in its output")]
