"""The fixer: proposes patches for the verified findings of its task, made by the tools.

Offline, the fixes are ruff's own (``ruff check --fix``, and ``--unsafe-fixes`` for
those ruff marks unsafe), applied to a private copy of the tree, never the
user's files; each changed file becomes a ``patch.proposed`` with its text before
and after. A task sent back by its review (``review`` in the inputs, round 2 and
on) changes what it makes: a fix that brought new problems is made with the safe
fixes only, and one that broke the project's formatting is formatted with the
project's own settings. One that drifts from the project's conventions gets
what the coherence finding names (a ruff rule with its setting, e.g. ``Q000``
with the project's quote, or ``ruff format``); a drift no tool fixes safely
leaves the file as it was, so it ends as not fixed instead of coming back. A
task made again on top of another fix (a conflict lost, a priority held) names
that fix (``rebase_on``: patch ids) and starts from the text it makes, read
from the log.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from callsheet.agents import Agent, WorkContext, work
from callsheet.agents.tools import call_recorded, call_tool
from callsheet.events.catalog import (
    FindingReportedData,
    FixedFinding,
    PatchProposed,
    PatchProposedData,
    TaskAssigned,
    TaskResultData,
)
from callsheet.projections import findings as findings_projection
from callsheet.review.analyzers.ruff import Ruff
from callsheet.review.coherence import is_drift, remedy
from callsheet.review.inventory import decode_source
from callsheet.review.patches import unified
from callsheet.review.plan import FIXER
from callsheet.review.workers import job_from

__all__ = ["FixerWorker", "patch_id"]

_WORSE = {"safe": 0, "unsafe": 1, "manual": 2}
_BROUGHT = re.compile(r"the fix brings ([A-Z]+[0-9]+): ")


def patch_id(task_id: str, round_: int, path: str) -> str:
    """The id of a task's patch of one file in one round."""
    return f"{task_id}-r{round_}-{hashlib.sha256(path.encode()).hexdigest()[:10]}"


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


async def _texts(root: str, files: list[str]) -> dict[str, str | None]:
    def read() -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for path in files:
            try:
                found[path] = decode_source((Path(root) / path).read_bytes())
            except (OSError, ValueError):
                found[path] = None
        return found

    return await asyncio.to_thread(read)


def _unsafe(finding: FindingReportedData) -> bool:
    return finding.fix is None or finding.fix.applicability != "safe"


def _review(given: Any) -> dict[str, list[str]]:
    """The last review's words, by the file they are about (``""``: the whole task)."""
    found: dict[str, list[str]] = {}
    for item in given if isinstance(given, list) else []:
        if isinstance(item, dict):
            location, message = str(item.get("location") or ""), str(item.get("message", ""))
        else:  # words alone, about the whole task
            location, message = "", str(item)
        found.setdefault(location.split(":", 1)[0], []).append(message)
    return found


@dataclass
class _Remedies:
    """What a review's words add to a round, by file."""

    rules: dict[str, set[str]] = field(default_factory=dict)
    settings: dict[str, set[str]] = field(default_factory=dict)
    styled: set[str] = field(default_factory=set)
    left: dict[str, str] = field(default_factory=dict)


def _remedied(
    fixable: list[FindingReportedData], review: dict[str, list[str]]
) -> tuple[list[FindingReportedData], _Remedies]:
    """What to fix this round, as the review said of each file, and what to add to it.

    A file whose fix fixed nothing is left alone, and so is one whose fix drifts
    from the project's conventions in a way no tool fixes safely. One whose fix
    brought a problem that a ruff rule names (UP031's fix brings UP032), or a
    drift a ruff rule fixes (Q000 with the project's quote), gets that rule's
    fixes too; a drift ``ruff format`` fixes is formatted; a fix that brought
    another problem (a type error) gets only the fixes ruff calls safe. The other
    files get the same fixes as before.
    """
    kept = []
    found = _Remedies()
    for finding in fixable:
        path = finding.path
        said = review.get(path, [])
        if any("fixes none" in m for m in said):
            continue
        drift = {m: remedy(m) for m in said if is_drift(m)}
        stuck = [m for m, fix in drift.items() if fix is None]
        if stuck:
            found.left[path] = stuck[0]
            continue
        brought = [_BROUGHT.match(m) for m in said if m.startswith("the fix brings")]
        rules = {m.group(1) for m in brought if m is not None}
        if len(rules) < len(brought) and _unsafe(finding):
            continue  # a problem no ruff rule fixes: only what is safe
        for fix in drift.values():
            if fix is not None and fix.rule is not None:
                rules.add(fix.rule)
                if fix.setting:
                    found.settings.setdefault(path, set()).add(fix.setting)
            if fix is not None and fix.format:
                found.styled.add(path)
        if rules:
            found.rules.setdefault(path, set()).update(rules)
        kept.append(finding)
    return kept, found


def _rationale(
    how: str,
    fixes: list[FixedFinding],
    also: set[str],
    evidence: str,
    round_: int,
    review: list[str],
    rebased: bool,
) -> str:
    rules = ", ".join(sorted({x.rule for x in fixes}))
    said = (
        f"{how} ({rules}{', and ' + ', '.join(sorted(also)) if also else ''}); tool run {evidence}"
    )
    if rebased:
        said += "; made on top of the fix that came first"
    if review:
        said += f"; round {round_}, after its review: {'; '.join(review)}"
    return said[:65536]


class FixerWorker(Agent):
    """Makes the tools' fixes of its task's verified findings into patches."""

    kind = "worker"
    role: ClassVar[str | None] = FIXER
    lease_seconds: ClassVar[float] = 60.0

    async def _bases(self, ctx: WorkContext, patch_ids: list[str]) -> dict[str, str]:
        """The texts the named patches make, by file, from the log."""
        wanted = set(patch_ids)
        found: dict[str, str] = {}
        if not wanted:
            return found
        async for stored in ctx.store.read(
            goal_id=ctx.assignment.goal_id, types=["patch.proposed"], until_seq=ctx.seq
        ):
            event = stored.event
            if isinstance(event, PatchProposed) and event.data.patch_id in wanted:
                found[event.data.path] = event.data.after
        return found

    async def _fixable(self, ctx: WorkContext, inputs: dict[str, Any]) -> list[FindingReportedData]:
        """The task's verified findings that a tool can fix, as the log held them."""
        files = set(inputs.get("files", []))
        perspectives = set(inputs.get("perspectives", []))
        state = findings_projection.initial()
        async for stored in ctx.store.read(
            goal_id=ctx.assignment.goal_id, types=["finding.*"], until_seq=ctx.seq
        ):
            state = findings_projection.fold(state, stored.event)
        return [
            c.data
            for c in state.by_status("confirmed")
            if c.data.path in files
            and c.data.perspective in perspectives
            and c.data.tool == "ruff"
            and c.data.fix is not None
            and c.data.fix.edits
        ]

    @work()
    async def fix(self, event: TaskAssigned, ctx: WorkContext) -> TaskResultData:
        """Propose a patch per file the tools' fixes change."""
        inputs = dict(event.data.inputs)
        round_ = int(event.data.attempt)
        review = _review(inputs.get("review", []))
        fixable = await self._fixable(ctx, inputs)
        remedies = _Remedies()
        if round_ > 1:
            fixable, remedies = _remedied(fixable, review)
        extra = remedies.rules
        if not fixable:
            return TaskResultData(
                worker=self.name,
                output={"patches": [], "round": round_, "left": remedies.left},
                summary="nothing the tools can fix"
                + (" that its review did not refuse" if round_ > 1 else ""),
            )
        files = sorted({f.path for f in fixable})
        rules = sorted({f.rule for f in fixable})
        on_top = await self._bases(ctx, [str(p) for p in inputs.get("rebase_on", [])])
        base = {path: text for path, text in on_top.items() if path in files}
        root = str(inputs["root"])
        read, _ = await call_recorded(
            ctx, "read-files", {"root": root, "files": files}, lambda: _texts(root, files)
        )
        before = {p: base.get(p, read.get(p)) for p in files}
        ruff = Ruff("style")
        after: dict[str, str | None] = {}
        evidence: dict[str, str] = {}
        unsafe_in = {p for p in files if any(_unsafe(f) for f in fixable if f.path == p)}
        for unsafe in (False, True):  # a run per kind: a file refused once gets safe fixes only
            paths = [p for p in files if (p in unsafe_in) == unsafe]
            if not paths:
                continue
            job = job_from(inputs, paths)
            invocation = ruff.fix_invocation(
                job,
                sorted(
                    {f.rule for f in fixable if f.path in paths}
                    | {r for p in paths for r in extra.get(p, ())}
                ),
                unsafe=unsafe,
                base={p: t for p, t in base.items() if p in paths},
                settings=sorted({s for p in paths for s in remedies.settings.get(p, ())}),
            )
            run, said = await call_tool(ctx, invocation)
            after.update({p: run.outputs.get(p) for p in paths})
            evidence.update(dict.fromkeys(paths, said))
        styled_files = sorted(
            p for p in files if p in remedies.styled or "formatting" in " ".join(review.get(p, []))
        )
        if styled_files:
            texts = {p: t for p in styled_files if (t := after.get(p)) is not None}
            styled, _ = await call_tool(ctx, ruff.format_invocation(job_from(inputs, files), texts))
            after.update({p: styled.outputs.get(p) or after[p] for p in texts})
        made = []
        for path in files:
            old, new = before.get(path), after.get(path)
            if old is None or new is None or old == new:
                continue
            fixes = [
                FixedFinding(
                    finding_id=f.finding_id,
                    rule=f.rule,
                    applicability=f.fix.applicability if f.fix is not None else "manual",
                )
                for f in fixable
                if f.path == path
            ]
            worst = max((x.applicability for x in fixes), key=_WORSE.__getitem__)
            how = "ruff check --fix" + (" --unsafe-fixes" if worst != "safe" else "")
            how += ", then ruff format" if path in styled_files else ""
            data = PatchProposedData(
                patch_id=patch_id(ctx.task_id, round_, path),
                path=path,
                perspective=next(f.perspective for f in fixable if f.path == path),
                tool="ruff",
                applicability=worst,
                fixes=fixes,
                round=round_,
                before=old,
                after=new,
                diff=unified(path, old, new),
                before_digest=_digest(old),
                after_digest=_digest(new),
                rationale=_rationale(
                    how,
                    fixes,
                    extra.get(path, set()),
                    evidence[path],
                    round_,
                    review.get(path, []),
                    path in base,
                ),
            )
            ctx.emit(PatchProposed, data)
            made.append(data.patch_id)
        await ctx.flush()
        return TaskResultData(
            worker=self.name,
            output={"patches": made, "round": round_, "rules": rules, "left": remedies.left},
            summary=f"{len(made)} patches ({', '.join(rules)})"
            if made
            else "the fixes change nothing",
        )
