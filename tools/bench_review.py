"""Benchmark ``callsheet review`` on a large real codebase, next to its tools run one by one.

Run::

    python -m tools.bench_review [--package setuptools] [--workers 1,2] [--rounds 2]
                                 [--perspectives security,bugs,complexity,style]
                                 [--baseline DIR]

An installed package (``setuptools`` by default: about 60,000 lines) is copied
to a temporary folder. A private ``nats-server`` is started. Round by round, in
one run, alternating:

1. **Sequential tools**: every analyzer the review runs for the perspectives,
   each once over the whole tree, one after the other (``agents.tools.run_tool``
   with the adapters' own command lines): the time the tools alone take.
2. **The review** with each number of analyst processes (``callsheet review
   --workers N``, a subprocess, as a user runs it): wall time, and from its
   log the tool runs it made (analysis and verification), the time during which
   at least one tool was running (the union of the runs' intervals), and the
   share of the wall time during which none was: orchestration (planning, events,
   leases, verification's own work, process start-up).

With ``--baseline DIR`` (another checkout of callsheet, e.g. ``git worktree add
DIR main``), each round also runs that version's review (its ``callsheet`` first
on the import path), just before this one's: figures before and after a change,
side by side, on the same machine at the same moment.

Nothing fails on speed: figures and targets are printed (orchestration under
10 % of the wall time; with 2 workers, faster than the tools one after the other).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import nats
from ulid import ULID

from callsheet.agents.tools import run_tool
from callsheet.broker.process import NatsServerProcess
from callsheet.events.catalog import PERSPECTIVES, Perspective, ToolCalled
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from callsheet.review.analyzers import Job, for_perspective
from callsheet.review.inventory import scan

__all__ = ["ReviewRun", "main"]


@dataclass
class ReviewRun:
    """One review's figures (seconds)."""

    workers: int
    wall: float
    started: float = 0.0
    """When the review was started (seconds since the epoch)."""
    first_tool: float = 0.0
    """Seconds from the start to the first tool's start."""
    after_tools: float = 0.0
    """Seconds from the last tool's end to the review's exit."""
    label: str = "review"
    tool_sum: float = 0.0
    tool_busy: float = 0.0
    analysis_sum: float = 0.0
    verify_sum: float = 0.0
    runs: int = 0
    events: int = 0
    findings: str = ""
    by_tool: dict[str, float] = field(default_factory=dict)

    @property
    def orchestration(self) -> float:
        """Share of the wall time when no tool ran."""
        return max(0.0, self.wall - self.tool_busy) / self.wall if self.wall else 0.0


def _copy(package: str, into: Path) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"bench_review: {package} is not an installed package")
    source = Path(next(iter(spec.submodule_search_locations)))
    target = into / package
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


async def _sequential(
    tree: Path, perspectives: list[Perspective]
) -> tuple[float, dict[str, float]]:
    inventory = scan(tree)
    files = tuple(f.path for f in inventory.files if f.parses)
    job = Job(
        root=str(tree),
        files=files,
        config=inventory.config,
        timeout=3600,
        test_files=frozenset(f.path for f in inventory.files if f.test),
    )
    by_tool: dict[str, float] = {}
    started = time.perf_counter()
    for perspective in perspectives:
        for analyzer in for_perspective(
            perspective, typed=inventory.typed, tests=inventory.has_tests
        ):
            invocation = analyzer.invocation(job)
            if invocation is None:
                continue
            t0 = time.perf_counter()
            run = await run_tool(invocation)
            analyzer.parse(run, job)
            by_tool[analyzer.key] = time.perf_counter() - t0
    return time.perf_counter() - started, by_tool


async def _figures(url: str, stream: str, root: str, goal: str, run: ReviewRun) -> None:
    nc = await nats.connect(url)
    try:
        store = EventStore(nc, StoreConfig(stream=stream, root=root))
        intervals: list[tuple[float, float]] = []
        async for stored in store.read(goal_id=goal):
            run.events += 1
            event = stored.event
            if not isinstance(event, ToolCalled) or not event.data.command:
                continue
            seconds = event.data.duration_ms / 1000
            finished = event.occurred_at
            began = finished - timedelta(seconds=seconds)
            intervals.append((began.timestamp(), finished.timestamp()))
            run.runs += 1
            run.tool_sum += seconds
            key = event.data.tool
            run.by_tool[key] = run.by_tool.get(key, 0.0) + seconds
            if (event.task_id or "").startswith("verify"):
                run.verify_sum += seconds
            else:
                run.analysis_sum += seconds
        if intervals:
            run.first_tool = min(a for a, _ in intervals) - run.started
            run.after_tools = run.started + run.wall - max(b for _, b in intervals)
        busy, last = 0.0, float("-inf")
        for start, end in sorted(intervals):
            if end <= last:
                continue
            busy += end - max(start, last)
            last = end
        run.tool_busy = busy
    finally:
        await nc.close()


def _review(
    tree: Path,
    workers: int,
    perspectives: list[Perspective],
    url: str,
    home: Path,
    baseline: Path | None = None,
) -> tuple[ReviewRun, str, str, str]:
    uid = str(ULID()).lower()
    stream, root = f"BENCH_{uid}", f"b{uid}"
    env = {
        **os.environ,
        "CALLSHEET_NATS_URL": url,
        "CALLSHEET_STREAM": stream,
        "CALLSHEET_SUBJECT_ROOT": root,
        "CALLSHEET_HOME": str(home),
    }
    env.pop("ANTHROPIC_API_KEY", None)
    if baseline is not None:  # its callsheet before the installed one (analysts inherit it)
        env["PYTHONPATH"] = os.pathsep.join([str(baseline), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    command = [
        sys.executable, "-m", "callsheet.cli", "review", str(tree), "--workers", str(workers),
        "--perspectives", ",".join(perspectives), "--report", str(home / f"report-{uid}.md"),
        "--no-progress",
    ]  # fmt: skip
    epoch, started = time.time(), time.perf_counter()
    # Not in this checkout's folder: ``-m`` puts the current folder first on the import path.
    done = subprocess.run(command, env=env, cwd=home, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench_review: the review failed ({done.returncode}): {done.stderr}")
    goal = done.stdout.split()[1].rstrip(":")
    label = "review" if baseline is None else "baseline review"
    run = ReviewRun(workers=workers, wall=wall, started=epoch, label=label)
    run.findings = next((ln for ln in done.stdout.splitlines() if " findings: " in ln), "")
    return run, stream, root, goal


def _line(run: ReviewRun) -> str:
    return (
        f"{run.label}, {run.workers} analysts  {run.wall:6.1f} s wall; "
        f"{run.runs} tool runs, {run.tool_sum:.1f} s of tools "
        f"(analysis {run.analysis_sum:.1f}, verification {run.verify_sum:.1f}); "
        f"a tool running {run.tool_busy:.1f} s; first tool after {run.first_tool:.1f} s, "
        f"exit {run.after_tools:.1f} s after the last; orchestration "
        f"{100 * run.orchestration:.1f} %; {run.events} events; {run.findings}"
    )


def _table(
    best_seq: float, reviews: dict[tuple[bool, int], list[ReviewRun]], counts: list[int]
) -> None:
    print("\n| run | wall (best) | vs sequential tools | orchestration (best) |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| tools one after the other | {best_seq:.1f} s | 1.00 | - |")
    for (_, n), runs in reviews.items():
        best = min(runs, key=lambda r: r.wall)
        orch = min(r.orchestration for r in runs)
        print(
            f"| {best.label}, {n} analysts | {best.wall:.1f} s | {best_seq / best.wall:.2f} | "
            f"{100 * orch:.1f} % |"
        )
    if len(counts) > 1:
        first, last = counts[0], counts[-1]
        for baseline in sorted({b for b, _ in reviews}):
            slow = min(r.wall for r in reviews[(baseline, first)])
            fast = min(r.wall for r in reviews[(baseline, last)])
            label = reviews[(baseline, first)][0].label
            print(f"\n{label}: speed-up from {first} to {last} analysts: {slow / fast:.2f}x")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="setuptools", help="installed package to review")
    parser.add_argument("--workers", default="1,2", help="analyst processes, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--perspectives", default="security,bugs,complexity,style")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout of callsheet to run beside this one"
    )
    args = parser.parse_args(argv)
    baseline: Path | None = args.baseline.resolve() if args.baseline else None
    if baseline is not None and not (baseline / "callsheet" / "__init__.py").is_file():
        raise SystemExit(f"bench_review: --baseline {baseline} holds no callsheet package")
    perspectives: list[Perspective] = [p for p in PERSPECTIVES if p in args.perspectives.split(",")]
    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        base = Path(tmp)
        tree = _copy(args.package, base)
        inventory = scan(tree)
        print(
            f"{args.package}: {len(inventory.files)} Python files, {inventory.lines} lines; "
            f"perspectives {', '.join(perspectives)}; {os.cpu_count()} cores"
        )
        server = NatsServerProcess(store_dir=base / "nats")
        server.start()
        sequential: list[float] = []
        versions: list[Path | None] = [baseline, None] if baseline is not None else [None]
        reviews: dict[tuple[bool, int], list[ReviewRun]] = {
            (v is not None, n): [] for v in versions for n in counts
        }
        try:
            for round_ in range(1, args.rounds + 1):
                wall, by_tool = asyncio.run(_sequential(tree, perspectives))
                sequential.append(wall)
                tools = ", ".join(f"{k} {v:.1f}" for k, v in by_tool.items())
                print(f"round {round_}: sequential tools {wall:6.1f} s ({tools})")
                for n in counts:
                    for version in versions:
                        run, stream, root, goal = _review(
                            tree, n, perspectives, server.url, base, version
                        )
                        asyncio.run(_figures(server.url, stream, root, goal, run))
                        reviews[(version is not None, n)].append(run)
                        print(f"round {round_}: {_line(run)}")
        finally:
            server.stop()
    _table(min(sequential), reviews, counts)
    print("targets: orchestration < 10 % of the wall time; with 2 analysts, faster than the tools")


if __name__ == "__main__":
    main()
