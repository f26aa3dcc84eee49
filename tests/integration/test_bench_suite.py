"""The benchmark suite in quick mode: it starts its servers, runs cases and writes its files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_suite_writes_a_table_and_json(tmp_path: Path) -> None:
    cases = ["append", "dispatch", "crew", "replay"]
    args = [sys.executable, "-m", "tools.bench", "--quick", "--out", str(tmp_path)]
    for case in cases:
        args += ["--case", case]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads((tmp_path / "bench.json").read_text())
    assert {row["case"] for row in document["rows"]} == set(cases)
    crew = [r for r in document["rows"] if r["case"] == "crew" and r["data"]]
    assert crew and all(r["data"]["outcome"] == "succeeded" for r in crew)
    table = (tmp_path / "bench.md").read_text()
    assert "| append | durable (sync_interval: always)" in table


def test_a_bad_option_is_refused_in_one_line(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "tools.bench", "--rounds", "0", "--out", str(tmp_path)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "--rounds must be at least 1" in done.stderr
    assert not (tmp_path / "bench.json").exists()
