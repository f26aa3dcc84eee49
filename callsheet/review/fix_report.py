"""The report's "Fixes" section (``callsheet review --fix``): what was fixed, what not, and why.

Pure: from the goal's events, folded by ``FixLog.feed`` (the fixes projection,
the conflicts and their decisions, dropped fix tasks, the integrator's result)
and its findings. A finding is fixed when a patch the combined patch holds
names it; every other verified finding of a perspective that had a fix task is
listed under "Not fixed" with the reason: no tool fix for its rule, its fix
refused by review, lost in a conflict, dropped, or left out of the merge. A
fix whose review found it drifting from the project's conventions in a way no
tool fixes safely (the fixer leaves such a file alone) is "not fixed: drift …",
with the review's words about that file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from callsheet.events.catalog import (
    ConflictDetected,
    ConflictResolved,
    ReviewCompleted,
    TaskAssigned,
    TaskCancelled,
    TaskResult,
)
from callsheet.events.envelope import Event
from callsheet.projections import fixes as fixes_projection
from callsheet.projections.findings import Findings
from callsheet.projections.fixes import Fixes
from callsheet.review.coherence import is_drift, remedy
from callsheet.review.plan import FIXER, INTEGRATE_TASK

__all__ = ["FixLog", "render_fixes"]


@dataclass
class FixLog:
    """What the fixes of a goal came to, fed event by event."""

    fixes: Fixes = field(default_factory=fixes_projection.initial)
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    fix_tasks: dict[str, list[str]] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    merged: dict[str, Any] | None = None
    said: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Each review's findings, by review id and the file they are about."""

    def feed(self, event: Event) -> None:
        """Fold one event of the goal."""
        self.fixes = fixes_projection.fold(self.fixes, event)
        if isinstance(event, TaskAssigned) and event.data.role == FIXER and event.task_id:
            perspectives = event.data.inputs.get("perspectives", [])
            self.fix_tasks[event.task_id] = [str(p) for p in perspectives]
        elif isinstance(event, TaskCancelled) and event.task_id in self.fix_tasks:
            self.dropped[event.task_id] = event.data.reason
        elif isinstance(event, ConflictDetected):
            self.conflicts[event.data.conflict_id] = {
                "kind": event.data.kind,
                "subject": event.data.subject,
                "description": event.data.description,
            }
        elif isinstance(event, ConflictResolved) and event.data.conflict_id in self.conflicts:
            self.conflicts[event.data.conflict_id].update(
                resolution=event.data.resolution, notes=event.data.notes
            )
        elif isinstance(event, ReviewCompleted) and event.data.review_id in self.fixes.reviews:
            by_file: dict[str, list[str]] = {}
            for f in event.data.findings:
                by_file.setdefault((f.location or "").split(":", 1)[0], []).append(f.message)
            self.said[event.data.review_id] = by_file
        elif isinstance(event, TaskResult) and event.task_id == INTEGRATE_TASK:
            output = event.data.output
            self.merged = dict(output) if isinstance(output, dict) else {}


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _why_not(log: FixLog, finding: str, has_fix: bool) -> str:
    """Why a verified finding is not in the combined patch."""
    cards = [c for c in log.fixes.patches.values() if finding in c.finding_ids]
    left_out = (log.merged or {}).get("left_out") or {}
    for card in sorted(cards, key=lambda c: (-c.round, c.patch_id)):
        if card.patch_id in left_out:
            return f"left out of the merge: {left_out[card.patch_id]}"
        if card.status == "lost":
            return f"lost a conflict: {card.reason}"
        if card.status == "changes_requested":
            said = log.said.get(card.review_id or "", {}).get(card.path, [])
            stuck = [m for m in said if is_drift(m) and remedy(m) is None]
            if stuck:
                return "not fixed: " + "; ".join(stuck)
            dropped = log.dropped.get(card.task_id)
            # The review's words about this file, not those about the task's other files.
            words = "; ".join(said) if said else card.reason
            return dropped or f"its review asked for changes: {words}"
    if cards:
        return "its fix was not merged"
    if not has_fix:
        return "no tool fix for this rule"
    return "its fix was not proposed (refused by an earlier review round)"


def render_fixes(log: FixLog, state: Findings, root: str, patch_name: str) -> list[str]:
    """The "Fixes" section, as Markdown lines (none when the review made no fix task)."""
    if not log.fix_tasks:
        return []
    merged = log.merged or {}
    applied = set(merged.get("applied") or [])
    files = list(merged.get("files") or [])
    out = ["", "## Fixes", ""]
    if merged.get("verified"):
        out.append(
            f"{len(applied)} fixes in {len(files)} files are merged into `{patch_name}`, "
            "verified: no new syntax or pyflakes error, `git apply` makes exactly the merged "
            "files, and no test of the project that passed before fails after. "
            f"Apply it with `git -C {root} apply {patch_name}` (or `callsheet review --fix "
            "--apply`)."
        )
    elif files:
        said = merged.get("failures") or {}
        why = "; ".join(
            [
                *merged.get("problems", []),
                *(
                    f"{t} now fails" + (f": {said[t]}" if said.get(t) else "")
                    for t in merged.get("new_failures", [])
                ),
            ]
        )
        out.append(
            f"{len(applied)} fixes in {len(files)} files are merged into `{patch_name}`, "
            f"**not verified**: {_md(why) or 'see the integrator result'}. `--apply` refuses it."
        )
    else:
        out.append("No fix was merged.")
    perspectives = {p for ps in log.fix_tasks.values() for p in ps}
    fixed_ids = {
        f for c in log.fixes.patches.values() if c.patch_id in applied for f in c.finding_ids
    }
    verified = [c for c in state.by_status("confirmed") if c.data.perspective in perspectives]
    fixed = [c for c in verified if c.data.finding_id in fixed_ids]
    if fixed:
        out += ["", f"### Fixed ({len(fixed)})", "", "| file | line | rule | perspective |"]
        out.append("| --- | --- | --- | --- |")
        out += [
            f"| {_md(c.data.path)} | {c.data.line} | {c.data.tool} {c.data.rule} | "
            f"{c.data.perspective} |"
            for c in fixed
        ]
    rest = [c for c in verified if c.data.finding_id not in fixed_ids]
    if rest:
        reasons: Counter[tuple[str, str]] = Counter(
            (
                f"{c.data.tool} {c.data.rule}",
                _why_not(log, c.data.finding_id, c.data.fix is not None and bool(c.data.fix.edits)),
            )
            for c in rest
        )
        out += ["", f"### Not fixed ({len(rest)})", "", "| rule | findings | why |"]
        out.append("| --- | --- | --- |")
        out += [f"| {rule} | {n} | {_md(why)} |" for (rule, why), n in sorted(reasons.items())]
    if log.dropped:
        out += ["", "### Fix tasks dropped", ""]
        out += [f"- {task}: {_md(why)}" for task, why in sorted(log.dropped.items())]
    settled = [c for c in log.conflicts.values() if c["kind"] != "resource" or c.get("resolution")]
    if settled:
        out += ["", f"### Conflicts ({len(settled)})", ""]
        out += ["| kind | subject | what happened | decision |", "| --- | --- | --- | --- |"]
        for c in sorted(settled, key=lambda c: (c["kind"], c["subject"])):
            decision = f"{c.get('resolution', 'open')}: {c.get('notes', '')}".rstrip(": ")
            out.append(
                f"| {c['kind']} | {_md(c['subject'])} | {_md(c['description'])} | {_md(decision)} |"
            )
    return out
