"""The integrator: merges the accepted fixes into one patch and verifies the fixed tree.

From the log alone it takes, for each fix task, the patches of its last round
that a review approved, less those that lost a conflict, and composes them file
by file in the order of the perspectives (security first): a fix made from the
text as it stands applies; one made from the original merges with what was
applied before (``patches.merge``); one that no longer merges is left out, with
the reason. Then, in private copies of the tree: syntax and pyflakes on each fixed
file (a file where anything new appears, invalid Python above all, keeps its
original text, its fixes left out with the problem), ``git apply`` of the combined
patch (it must make exactly the composed texts), and the project's own tests
(holding the test-suite lease; a test that passed before must pass after, and
each that does not is named with the first line of why; a suite that cannot run
on the merged tree is a problem, said with pytest's own words). The
combined patch (paths relative to the root, as ``git -C ROOT apply`` takes it) is
the task's artifact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from callsheet.agents import Agent, WorkContext, work
from callsheet.agents.tools import Invocation, ToolError, call_tool
from callsheet.events.catalog import (
    ConflictDetected,
    ConflictResolved,
    PatchProposed,
    PatchProposedData,
    ReviewCompleted,
    ReviewRequested,
    TaskAssigned,
    TaskResultData,
    ToolCalled,
)
from callsheet.events.envelope import Event
from callsheet.review.analyzers.ruff import Ruff, diagnostics
from callsheet.review.analyzers.tests import Pytest, failed_tests, failures
from callsheet.review.conflicts import rank_perspective
from callsheet.review.patches import merge, unified
from callsheet.review.plan import INTEGRATOR, PATCH_NAME, PATCH_REVIEWER
from callsheet.review.resources import exclusive
from callsheet.review.synthesizer import publish
from callsheet.review.workers import job_from

__all__ = ["PATCH_ARTIFACT", "PATCH_NAME", "Composed", "Integrator", "accepted", "compose"]

PATCH_ARTIFACT = "review-patch"


@dataclass
class Composed:
    """The fixed text of each file, and what went into it."""

    original: dict[str, str] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> list[str]:
        """The files the fixes change."""
        return sorted(p for p, t in self.text.items() if t != self.original.get(p))

    def diff(self) -> str:
        """The combined unified diff."""
        return "".join(unified(p, self.original[p], self.text[p]) for p in self.changed)

    def revert(self, path: str, why: str, patches: Iterable[PatchProposedData]) -> None:
        """Keep ``path`` as it was: its fixes are left out, with ``why``."""
        self.text[path] = self.original[path]
        for p in patches:
            if p.path == path and p.patch_id in self.applied:
                self.applied.remove(p.patch_id)
                self.left_out[p.patch_id] = why


def accepted(events: Iterable[Event], tasks: Iterable[str]) -> list[PatchProposedData]:
    """The patches to integrate: each task's last round, approved, not beaten in a conflict."""
    wanted = set(tasks)
    patches: dict[str, tuple[str, PatchProposedData]] = {}
    reviews: dict[str, list[str]] = {}
    approved: set[str] = set()
    parties: dict[str, list[str]] = {}
    lost: set[str] = set()
    last_round: dict[str, int] = {}
    for event in events:
        if isinstance(event, PatchProposed) and event.task_id in wanted:
            patches[event.data.patch_id] = (event.task_id, event.data)
            last_round[event.task_id] = max(last_round.get(event.task_id, 0), event.data.round)
        elif isinstance(event, ReviewRequested) and event.data.reviewer_role == PATCH_REVIEWER:
            reviews[event.data.review_id] = list(event.data.artifact_ids)
        elif isinstance(event, ReviewCompleted) and event.data.verdict == "approved":
            approved.update(reviews.get(event.data.review_id, []))
        elif isinstance(event, ConflictDetected):
            parties[event.data.conflict_id] = list(event.data.parties)
        elif isinstance(event, ConflictResolved) and event.data.resolution == "one_wins":
            lost.update(
                p for p in parties.get(event.data.conflict_id, []) if p != event.data.winner
            )
    return [
        p
        for pid, (task, p) in patches.items()
        if pid in approved and pid not in lost and p.round == last_round[task]
    ]


def compose(patches: Iterable[PatchProposedData]) -> Composed:
    """The fixed files, security's fixes first (see the module docstring)."""
    result = Composed()
    ordered = sorted(patches, key=lambda p: (rank_perspective(p.perspective), p.patch_id))
    afters = {p.after_digest for p in ordered}
    for p in ordered:  # a file's original: the text a fix was made from that no fix made
        if p.before_digest not in afters:
            result.original.setdefault(p.path, p.before)
    for p in ordered:
        original = result.original.setdefault(p.path, p.before)
        now = result.text.get(p.path, original)
        if p.before == now:
            result.text[p.path] = p.after
        else:
            merged = merge(p.before, now, p.after)
            if merged.text is None:
                lines = ", ".join(f"{s}-{e}" for s, e in merged.conflicts)
                result.left_out[p.patch_id] = (
                    f"overlaps the fixes applied before it at lines {lines} of {p.path}"
                )
                continue
            result.text[p.path] = merged.text
        result.applied.append(p.patch_id)
    return result


def _failures_before(events: Iterable[Event]) -> set[str] | None:
    """The tests that failed when the analysis ran them (None: it did not run them)."""
    found: set[str] | None = None
    for event in events:
        if isinstance(event, ToolCalled) and event.data.tool == "pytest" and event.data.command:
            outputs = (event.data.result or {}).get("outputs") or {}
            junit = outputs.get("junit")
            if junit and (event.task_id or "").startswith("analyze"):
                found = failed_tests(str(junit))
    return found


class Integrator(Agent):
    """See the module docstring."""

    kind = "worker"
    role: ClassVar[str | None] = INTEGRATOR
    lease_seconds: ClassVar[float] = 60.0

    async def _tests(
        self, ctx: WorkContext, inputs: dict[str, Any], overlay: Mapping[str, str]
    ) -> tuple[dict[str, str], str | None]:
        """The tests that fail (with why), or why the suite could not run."""
        job = job_from(inputs, [*inputs.get("test_files", [])])
        invocation = Pytest().invocation(job)
        if invocation is None:
            return {}, None
        where = "the merged tree" if overlay else "the original tree"
        try:
            async with exclusive(ctx, "test-suite", job.root):
                run, _ = await call_tool(ctx, invocation.with_overlay(overlay))
        except ToolError as exc:
            return {}, f"the project's tests could not run on {where}: {exc}"
        found = failures(run.outputs.get("junit") or "")
        if found is None or run.exit_code not in (0, 1, 2):
            tail = (run.stderr.strip() or run.stdout.strip()).splitlines()[-3:]
            return {}, (
                f"the project's tests could not run on {where} (pytest exit {run.exit_code}"
                + (f": {' / '.join(tail)}" if tail else "")
                + ")"
            )[:2000]
        return found, None

    async def _syntax(
        self, ctx: WorkContext, inputs: dict[str, Any], composed: Composed
    ) -> dict[str, list[str]]:
        """What ruff's syntax and pyflakes checks find in each fixed file that was not there."""
        changed = composed.changed
        job = job_from(inputs, changed)
        ruff = Ruff("bugs")
        old, _ = await call_tool(
            ctx, ruff.review_invocation(job, ["E9"], {p: composed.original[p] for p in changed})
        )
        new, _ = await call_tool(
            ctx, ruff.review_invocation(job, ["E9"], {p: composed.text[p] for p in changed})
        )
        found: dict[str, list[str]] = {}
        for path in changed:
            before = {(c, m) for c, m, _ in diagnostics(old, job.root, path)}
            for code, message, line in diagnostics(new, job.root, path):
                if (code, message) not in before and code.startswith(("F", "E9", "invalid")):
                    found.setdefault(path, []).append(f"{path}:{line}: {code} {message}")
        return found

    async def _applies(
        self, ctx: WorkContext, inputs: dict[str, Any], composed: Composed
    ) -> list[str]:
        """``git apply`` of the combined patch to a copy of the tree: what it got wrong."""
        changed = composed.changed
        run, _ = await call_tool(
            ctx,
            Invocation(
                "git",
                ("apply", "--whitespace=nowarn", PATCH_NAME),
                "{copy}",
                timeout=float(inputs.get("timeout", 300.0)),
                copy_of=str(inputs["root"]),
                overlay={PATCH_NAME: composed.diff()},
                outputs={p: "{copy}/" + p for p in changed},
                ok_exit=frozenset({0, 1}),
            ),
        )
        if run.exit_code != 0:
            return [f"git apply refused the patch: {(run.stderr or run.stdout).strip()[:2000]}"]
        return [
            f"git apply made {p} differ from the merged fixes"
            for p in changed
            if run.outputs.get(p) != composed.text[p]
        ]

    @work()
    async def integrate(self, event: TaskAssigned, ctx: WorkContext) -> TaskResultData:
        """Compose, verify, publish the patch."""
        inputs = dict(event.data.inputs)
        events = [s.event async for s in ctx.store.read(goal_id=event.goal_id, until_seq=ctx.seq)]
        patches = accepted(events, inputs.get("fix_tasks", []))
        composed = compose(patches)
        problems: list[str] = []
        new_failures: list[str] = []
        why_failed: dict[str, str] = {}
        if composed.changed:
            try:
                for path, found in (await self._syntax(ctx, inputs, composed)).items():
                    composed.revert(path, "the merged file would have " + "; ".join(found), patches)
            except ToolError as exc:
                problems.append(f"ruff could not check the fixed files: {exc}")
        changed = composed.changed
        if changed and not problems:
            problems += await self._applies(ctx, inputs, composed)
            if inputs.get("test_files") and not problems:
                baseline = _failures_before(events)
                if baseline is None:
                    before_run, _ = await self._tests(ctx, inputs, {})
                    baseline = set(before_run)
                after, broken = await self._tests(
                    ctx, inputs, {p: composed.text[p] for p in changed}
                )
                problems += [broken] if broken else []
                new_failures = sorted(set(after) - baseline)
                why_failed = {t: after[t] for t in new_failures}
        verified = bool(changed) and not problems and not new_failures
        diff = composed.diff()
        digest = "sha256:" + hashlib.sha256(diff.encode()).hexdigest()
        if diff:
            await publish(
                ctx,
                PATCH_ARTIFACT,
                PATCH_NAME,
                diff,
                "text/x-diff",
                f"{len(composed.applied)} fixes in {len(changed)} files; "
                + ("verified" if verified else "not verified"),
            )
        why = "; ".join([*problems, *(f"{t} now fails: {why_failed[t]}" for t in new_failures)])
        return TaskResultData(
            worker=self.name,
            output={
                "verified": verified,
                "files": changed,
                "applied": composed.applied,
                "left_out": composed.left_out,
                "problems": problems,
                "new_failures": new_failures,
                "failures": why_failed,
                "patch_digest": digest if diff else None,
            },
            summary=(
                f"{len(composed.applied)} fixes in {len(changed)} files, "
                + ("verified: nothing new breaks" if verified else f"not verified: {why}")
                if changed
                else "no fix to merge"
            )[:60000],
            artifact_ids=[PATCH_ARTIFACT] if diff else [],
        )
