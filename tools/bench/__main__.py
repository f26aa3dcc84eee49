"""``python -m tools.bench [--case NAME ...] [--quick] [--rounds R] [--scale F] [--out DIR]``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tools.bench.agents_cases import dispatch, fanout
from tools.bench.common import Row, Settings, markdown, rows_json
from tools.bench.crew_case import crew
from tools.bench.review_case import review
from tools.bench.store_cases import append, replay

CASES: dict[str, Callable[[Settings], list[Row]]] = {
    "append": append,
    "dispatch": dispatch,
    "fanout": fanout,
    "crew": crew,
    "replay": replay,
    "review": review,
}


def main(argv: list[str] | None = None) -> int:
    """Run the cases asked for (all by default); write the table and the JSON."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="repeatable")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per comparison")
    parser.add_argument("--scale", type=float, default=1.0, help="factor on the replay sizes")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.scale <= 0:
        parser.error("--scale must be above 0")
    rounds = args.rounds or (1 if args.quick else 3)
    settings = Settings(quick=args.quick, rounds=rounds, scale=args.scale)
    rows: list[Row] = []
    timings: dict[str, float] = {}
    for name in args.case or list(CASES):
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        got = CASES[name](settings)
        timings[name] = time.perf_counter() - started
        print(markdown(got), flush=True)
        rows += got
    args.out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    machine = (
        f"{platform.node()}: {os.cpu_count()} cores, load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
        f" (1/5/15 min) at the end; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    table = markdown(rows)
    (args.out / "bench.md").write_text(f"{machine}\n\n{table}", encoding="utf-8")
    document = {
        "machine": machine,
        "settings": {"quick": args.quick, "rounds": rounds, "scale": args.scale},
        "seconds": timings,
        "rows": rows_json(rows),
    }
    (args.out / "bench.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    print(f"{machine}\nwritten: {args.out / 'bench.md'}, {args.out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
