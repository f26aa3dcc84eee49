"""``callsheet review PATH``: a crew of specialists reviews a Python codebase; the main job.

The controller, the supervisor, the inventory taker, the verifier and the
synthesizer run in this process; the analysts in processes of their own
(``--workers``). The goal's id is printed first, so that ``events``, ``replay``,
``why``, ``trace`` and ``redrive`` work on it; the report and the SARIF log are
written from the log once the goal completes.

Exit status: 0 when no finding at or above ``--fail-on`` remains, 1 when one
does, 2 for bad input (including a tree with nothing to review), 4 when the
review could not complete (it failed, or ran past ``--timeout``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from callsheet.agents import AgentRuntime
from callsheet.agents.tools import cache_root
from callsheet.cli.budget_opts import budget_from, budget_options
from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.cli.fix_output import EXIT_NOT_APPLIED, apply_patch, fix_outcome
from callsheet.cli.processes import AgentProcess, spawn_agent, stop_all
from callsheet.events.catalog import (
    PERSPECTIVES,
    SEVERITIES,
    ArtifactPublished,
    Budget,
    GoalScopeChanged,
    GoalSubmitted,
    GoalSubmittedData,
    ReviewSpec,
    TaskStarted,
)
from callsheet.events.ids import new_event_id
from callsheet.events.store import EventStore, StoredEvent
from callsheet.events.wire import BlobRef
from callsheet.projections import findings as findings_projection
from callsheet.projections.findings import Findings
from callsheet.review import build_review_crew
from callsheet.review.findings import rank
from callsheet.review.plan import (
    ANALYST,
    FIXER,
    INTEGRATOR,
    INVENTORY,
    REPORTER,
    VERIFIER,
    cache_name,
)
from callsheet.review.progress import ReviewProgress
from callsheet.review.report import counts
from callsheet.review.scope import rescoped
from callsheet.review.synthesizer import REPORT_ARTIFACT, SARIF_ARTIFACT
from callsheet.review.workers import AnalystWorker

__all__ = ["EXIT_FINDINGS", "EXIT_INCOMPLETE", "review"]

EXIT_FINDINGS = 1
"""A finding at or above ``--fail-on`` remains."""
EXIT_INCOMPLETE = 4
"""The review could not complete."""
_ENDS = ("goal.completed", "goal.cancelled", "goal.rejected")
_CLASSES = {
    INVENTORY: "callsheet.review:InventoryWorker",
    ANALYST: "callsheet.review:AnalystWorker",
    VERIFIER: "callsheet.review:VerifierWorker",
    REPORTER: "callsheet.review:Synthesizer",
    FIXER: "callsheet.review:FixerWorker",
    INTEGRATOR: "callsheet.review:Integrator",
}
_HINT_AFTER = 15.0
DEFAULT_LINES_PER_TASK = 4000
"""Lines of an analysis task when ``--lines-per-task`` is not given."""
_DETECTOR = "review-conflicts-1"


def _perspectives(text: str) -> list[str]:
    wanted = [p.strip() for p in text.split(",") if p.strip()]
    unknown = sorted(set(wanted) - set(PERSPECTIVES))
    if unknown or not wanted:
        fail(
            f"--perspectives: unknown {', '.join(unknown) or '(none given)'} "
            f"(known: {', '.join(PERSPECTIVES)})",
            EXIT_INVALID,
        )
    return [p for p in PERSPECTIVES if p in wanted]


def _target(path: Path) -> Path:
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        fail(f"{path} does not exist", EXIT_INVALID)
    if resolved.is_file() and resolved.suffix != ".py":
        fail(f"{path} is not a Python file (.py) or a folder", EXIT_INVALID)
    if not (resolved.is_file() or resolved.is_dir()):
        fail(f"{path} is neither a folder nor a regular file", EXIT_INVALID)
    if not os.access(resolved, os.R_OK | (os.X_OK if resolved.is_dir() else 0)):
        fail(f"{path} cannot be read", EXIT_INVALID)
    return resolved


def _writable(path: Path, option: str) -> Path:
    parent = path.resolve().parent
    if not parent.is_dir():
        fail(f"{option}: folder {parent} does not exist", EXIT_INVALID)
    if path.is_dir():
        fail(f"{option}: {path} is a folder", EXIT_INVALID)
    if not os.access(parent, os.W_OK):
        fail(f"{option}: cannot write in {parent}", EXIT_INVALID)
    return path


async def _body(store: EventStore, artifact: ArtifactPublished) -> str:
    """An artifact's body, inline or from the Object Store, checked against its digest."""
    data = artifact.data
    if data.content is not None:
        raw = data.content.encode()
    elif data.uri and data.uri.startswith("nats-object://"):
        bucket, _, name = data.uri.removeprefix("nats-object://").partition("/")
        digest = (data.digest or "").strip()
        ref = BlobRef(bucket=bucket, name=name, digest=digest, size=data.size or 0)
        raw = await store.get_blob(ref)
    else:
        raise click.ClickException(f"artifact {data.artifact_id} has no content")
    if data.digest and "sha256:" + hashlib.sha256(raw).hexdigest() != data.digest:
        raise click.ClickException(f"artifact {data.artifact_id} does not match its digest")
    return raw.decode()


def _write(path: Path, text: str) -> None:
    """Write a file whole or not at all (a temporary file renamed over it)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


async def _hint(progress: ReviewProgress) -> None:
    """Say so when no analyst has taken a task a while after the goal was submitted."""
    await asyncio.sleep(_HINT_AFTER)
    tasks = progress.board.tasks.values()
    waiting = any(c.role == ANALYST and c.status == "assigned" for c in tasks)
    taken = any(c.role == ANALYST and c.status not in ("planned", "assigned") for c in tasks)
    if waiting and not taken:
        click.echo(
            "callsheet: no analyst has taken a task yet; start one with "
            "`callsheet agent run callsheet.review:AnalystWorker`",
            err=True,
        )


async def _follow(
    store: EventStore,
    goal: str,
    progress: ReviewProgress,
    live: bool,
    seen: list[StoredEvent] | None = None,
) -> str:
    """Follow the goal until it ends; return how it ended (and keep its events in ``seen``)."""
    from rich.console import Console
    from rich.live import Live

    display = Live(progress.view(), console=Console(stderr=True)) if live else None
    hint = asyncio.create_task(_hint(progress))
    drawn = 0.0
    try:
        if display is not None:
            display.start()
        async with store.subscribe(goal_id=goal) as sub:
            async for stored in sub:
                event = stored.event
                if seen is not None:
                    seen.append(stored)
                lines = progress.feed(event)
                ended = event.event_type in _ENDS
                if display is None:
                    for line in lines:
                        click.echo(line, err=True)
                elif ended or time.monotonic() - drawn > 0.25:  # a picture, not a frame an event
                    display.update(progress.view())
                    drawn = time.monotonic()
                if ended:
                    return event.event_type
    finally:
        hint.cancel()
        if display is not None:
            display.stop()
    return "ended"  # pragma: no cover - a subscription only ends when closed


def _exit_code(state: Findings, fail_on: str, scope: list[str]) -> int:
    """Exit 1 for a finding at or above ``fail_on`` in the review's scope.

    The scope is the perspectives asked for, as ``callsheet scope`` changed them;
    what analysts noticed outside it (an opportunity) is reported, not failed on.
    """
    if fail_on == "never":
        return 0
    limit = rank(fail_on)  # type: ignore[arg-type]
    worst = [
        c
        for c in state.by_status("confirmed")
        if rank(state.severity(c)) <= limit and c.data.perspective in scope
    ]
    return EXIT_FINDINGS if worst else 0


def _summary(goal: str, state: Findings, events: list[StoredEvent], lease: float) -> None:
    figures = counts(state)
    sev = figures.by_severity
    click.echo(
        f"{figures.verified} findings: {sev['error']} errors, {sev['warning']} warnings, "
        f"{sev['note']} notes ({figures.rejected} rejected, {figures.merged} merged, "
        f"{figures.skipped} parts not analysed)"
    )
    click.echo("see what happened:")
    click.echo(f"  callsheet events --goal {goal}")
    click.echo(f"  callsheet replay findings --goal {goal}")
    first = next(
        iter(sorted(state.by_status("confirmed"), key=lambda c: rank(state.severity(c)))), None
    )
    if first is not None:
        click.echo(f"  callsheet why {first.reported_id}")
    click.echo(f"  callsheet trace --goal {goal}")
    click.echo(
        f"  callsheet redrive callsheet.review:ReviewSupervisor --goal {goal} "
        f"--name review-supervisor --arg lease_seconds={lease:g}"
    )
    workers: dict[str, str] = {}
    roles = {
        s.event.id: getattr(s.event.data, "role", "")
        for s in events
        if s.event.event_type == "task.assigned"
    }
    for stored in events:
        event = stored.event
        if isinstance(event, TaskStarted):
            workers.setdefault(event.data.worker, roles.get(event.causation_id or "", ""))
    for name, role in sorted(workers.items()):
        if role in _CLASSES:
            click.echo(f"  callsheet redrive {_CLASSES[role]} --goal {goal} --name {name}")
    if any(s.event.event_type == "patch.proposed" for s in events):
        click.echo(f"  callsheet replay conflicts --goal {goal}")
        click.echo(f"  callsheet context search decision --goal {goal} --kind decision")
        for cls, name in (("PatchReviewer", "patch-reviewer-1"), ("ConflictDetector", _DETECTOR)):
            click.echo(f"  callsheet redrive callsheet.review:{cls} --goal {goal} --name {name}")


@click.command("review")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path),
    default=Path("callsheet-review.md"),
    show_default=True,
    help="Markdown report to write.",
)
@click.option(
    "--sarif", "sarif_path", type=click.Path(path_type=Path), default=None, help="SARIF 2.1.0 log."
)
@click.option(
    "--fail-on",
    type=click.Choice([*SEVERITIES, "never"]),
    default="never",
    show_default=True,
    help="Exit 1 when a verified finding at or above this level remains.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0, max=64),
    default=2,
    show_default=True,
    help="Analyst processes to start (0: use analysts already running).",
)
@click.option("--perspectives", default=",".join(PERSPECTIVES), show_default=True)
@click.option(
    "--split",
    type=click.Choice(["auto", "perspective", "none"]),
    default="auto",
    show_default=True,
    help="auto: a small codebase goes to one worker; perspective: a task per perspective.",
)
@click.option(
    "--lines-per-task",
    type=click.IntRange(min=100),
    default=None,
    help="Cut analysis tasks by this many lines (4000 by default); given, the plan is not "
    "capped at the tasks the analysts can run at once.",
)
@click.option("--tool-timeout", type=click.FloatRange(min=1), default=300.0, show_default=True)
@click.option("--python", "python", default=None, help="Python to run the project's tests with.")
@budget_options
@click.option("--per-rule", type=click.IntRange(min=1), default=20, show_default=True)
@click.option(
    "--reconfirm",
    type=click.Choice(["changed", "always"]),
    default="changed",
    show_default=True,
    help="Re-run ruff, bandit and radon on every file with findings, or only on changed ones.",
)
@click.option("--fix", is_flag=True, help="Propose fixes, merge and verify them, write the patch.")
@click.option(
    "--apply",
    "apply_fixes",
    is_flag=True,
    help="With --fix: apply the patch to PATH at the end, if verification passed.",
)
@click.option(
    "--patch",
    "patch_path",
    type=click.Path(path_type=Path),
    default=Path("callsheet-review.patch"),
    show_default=True,
    help="With --fix: the combined patch to write.",
)
@click.option(
    "--max-review-rounds",
    type=click.IntRange(min=1, max=10),
    default=2,
    show_default=True,
    help="With --fix: reviews of a fix before it is dropped.",
)
@click.option("--goal", "goal_id", default=None, help="Goal id (an existing one is continued).")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600.0, show_default=True)
@click.option("--lease", type=click.FloatRange(min=1), default=60.0, show_default=True)
@click.option(
    "--progress/--no-progress", default=None, help="Live view (default: when on a terminal)."
)
def review(
    path: Path,
    report_path: Path,
    sarif_path: Path | None,
    fail_on: str,
    workers: int,
    perspectives: str,
    split: str,
    lines_per_task: int | None,
    tool_timeout: float,
    python: str | None,
    max_tokens: int | None,
    max_cost: float | None,
    max_tokens_per_agent: int | None,
    max_cost_per_agent: float | None,
    per_rule: int,
    reconfirm: str,
    fix: bool,
    apply_fixes: bool,
    patch_path: Path,
    max_review_rounds: int,
    goal_id: str | None,
    timeout: float,
    lease: float,
    progress: bool | None,
) -> None:
    """Review the Python codebase at PATH (a folder, a checkout or one file) with a crew.

    Exit status: 0 none at or above --fail-on, 1 some, 2 bad input or nothing to
    review, 4 the review could not complete.
    """
    target = _target(path)
    wanted = _perspectives(perspectives)
    _writable(report_path, "--report")
    if sarif_path is not None:
        _writable(sarif_path, "--sarif")
    if apply_fixes and not fix:
        fail("--apply needs --fix (it applies the fixes' patch)", EXIT_INVALID)
    if fix:
        _writable(patch_path, "--patch")
    if python is not None and shutil.which(python) is None:
        fail(f"--python: {python} is not an executable", EXIT_INVALID)
    spec = ReviewSpec(
        path=str(target),
        perspectives=wanted,  # type: ignore[arg-type]
        split=split,  # type: ignore[arg-type]
        lines_per_task=lines_per_task or DEFAULT_LINES_PER_TASK,
        # Analysts started here run their tasks at once, up to the cores: no more tasks
        # than that, unless the user chose the tasks' size.
        slots=(
            min(workers * AnalystWorker.max_in_flight, os.cpu_count() or 1)
            if workers and lines_per_task is None
            else None
        ),
        tool_timeout=tool_timeout,
        python=python,
        per_rule=per_rule,
        reconfirm=reconfirm,  # type: ignore[arg-type]
        fix=fix,
        max_review_rounds=max_review_rounds,
    )
    goal = goal_id or "review-" + new_event_id().lower()[-10:]
    live = sys.stderr.isatty() if progress is None else progress
    budget = budget_from(max_tokens, max_cost, max_tokens_per_agent, max_cost_per_agent)
    options = _Options(goal, target, str(path), spec, workers, lease, timeout, live, budget)

    async def main() -> int:
        async with open_store() as store:
            followed = await _review(store, options)
            if followed is None:
                return EXIT_INCOMPLETE
            # What was followed, and anything appended after the goal's end.
            after = followed[-1].seq + 1 if followed else None
            events = [*followed, *[s async for s in store.read(goal_id=goal, from_seq=after)]]
            state = findings_projection.initial()
            for stored in events:
                state = findings_projection.fold(state, stored.event)
            outcome, why, named = _end_of(events)
            # The artifacts the goal's result names: a report task that failed after
            # publishing is not the review's report.
            artifacts = {
                s.event.data.artifact_id: s.event
                for s in events
                if isinstance(s.event, ArtifactPublished) and s.event.data.artifact_id in named
            }
            if REPORT_ARTIFACT not in artifacts:
                click.echo(
                    f"callsheet: error: the review ended ({outcome}) without a report: {why}",
                    err=True,
                )
                return EXIT_INCOMPLETE
            _write(report_path, await _body(store, artifacts[REPORT_ARTIFACT]))
            click.echo(f"report: {report_path}")
            if sarif_path is not None and SARIF_ARTIFACT in artifacts:
                _write(sarif_path, await _body(store, artifacts[SARIF_ARTIFACT]))
                click.echo(f"SARIF: {sarif_path}")
            _summary(goal, state, events, lease)
            if fix:
                fixed = await _fixes(store, events, named, patch_path)
                if apply_fixes and fixed != 0:
                    return fixed
                if apply_fixes:
                    refused = apply_patch(Path(str((state.inventory or {})["root"])), patch_path)
                    if refused is not None:
                        click.echo(f"callsheet: error: {refused}; nothing was changed", err=True)
                        return EXIT_NOT_APPLIED
                    click.echo(f"applied {patch_path} to {path}")
        shutil.rmtree(cache_root() / cache_name(goal), ignore_errors=True)
        if not (state.inventory or {}).get("files"):
            click.echo(f"callsheet: error: no Python file to review in {path}", err=True)
            return EXIT_INVALID
        if outcome not in ("succeeded", "partial"):
            return EXIT_INCOMPLETE
        changes = [s.event.data.change for s in events if isinstance(s.event, GoalScopeChanged)]
        return _exit_code(state, fail_on, list(rescoped(wanted, changes)))  # type: ignore[arg-type]

    raise SystemExit(run(main))


async def _fixes(
    store: EventStore, events: list[StoredEvent], named: list[str], patch_path: Path
) -> int:
    """Write the fixes' patch; 0 when it is there and verified (``--apply`` may go on)."""
    outcome = fix_outcome(events, named)
    if outcome is None or outcome.artifact is None:
        click.echo("fixes: none to merge" + (f" ({outcome.summary})" if outcome else ""))
        return EXIT_NOT_APPLIED
    _write(patch_path, await _body(store, outcome.artifact))
    click.echo(f"patch: {patch_path} ({outcome.summary})")
    if not outcome.verified:
        click.echo("callsheet: the fixed tree was not verified: the patch is not applied", err=True)
        return EXIT_NOT_APPLIED
    return 0


@dataclass(frozen=True, slots=True)
class _Options:
    goal: str
    target: Path
    named: str
    spec: ReviewSpec
    workers: int
    lease: float
    timeout: float
    live: bool
    budget: Budget | None


def _end_of(events: list[StoredEvent]) -> tuple[str, str, list[str]]:
    """How the goal ended (its outcome), the summary or reason given, the artifacts named."""
    for stored in events:
        event = stored.event
        if event.event_type in _ENDS:
            data = event.data
            outcome = str(getattr(data, "outcome", event.event_type))
            why = str(getattr(data, "summary", "") or getattr(data, "reason", ""))
            return outcome, why, list(getattr(data, "artifact_ids", []))
    return "running", "", []


async def _review(store: EventStore, o: _Options) -> list[StoredEvent] | None:
    """Run the crew until the goal ends (submitting it unless it exists); None on a timeout.

    Returns the goal's events as followed (none when it had ended already).
    """
    url = store.nc.connected_url
    assert url is not None
    server = f"nats://{url.hostname}:{url.port}"
    known = [s async for s in store.read(goal_id=o.goal)]
    if any(s.event.event_type in _ENDS for s in known):
        click.echo(f"goal {o.goal} has ended already: writing its report again")
        return []
    children: list[AgentProcess] = []
    seen: list[StoredEvent] = []
    stopping: asyncio.Future[None] | None = None
    try:
        for i in range(o.workers):
            name = f"analyst-{i + 1}"
            children.append(
                await spawn_agent(_CLASSES[ANALYST], name, server, "--lease", f"{o.lease:g}")
            )
        await asyncio.gather(*(c.ready(60) for c in children))
        # A goal that goes on keeps the whole crew: its spec, not this command's, says --fix.
        crew = build_review_crew(lease_seconds=o.lease, fix=o.spec.fix or bool(known))
        async with AgentRuntime(store, crew):
            if known:
                click.echo(f"goal {o.goal}: continuing the review of {o.target}")
            else:
                data = GoalSubmittedData(
                    title=f"Review {o.named}"[:512],
                    requested_by="cli",
                    review=o.spec,
                    budget=o.budget,
                )
                await store.append(GoalSubmitted.new(data=data, goal_id=o.goal, producer="cli"))
                click.echo(f"goal {o.goal}: reviewing {o.target} with {o.workers} analysts")
            watch = ReviewProgress(o.goal)
            await asyncio.wait_for(_follow(store, o.goal, watch, o.live, seen), o.timeout)
            # The analysts stop while the crew here does (not one after the other).
            stopping = asyncio.ensure_future(stop_all(children))
    except TimeoutError:
        click.echo(f"callsheet: error: the review did not end within {o.timeout:g} s", err=True)
        return None
    except RuntimeError as exc:
        fail(str(exc))
    finally:
        await (stopping if stopping is not None else stop_all(children))
    return seen
