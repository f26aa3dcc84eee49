"""The live view of a review while it runs, folded from the goal's events (no polling).

``ReviewProgress`` folds the board and the findings as events arrive; ``view``
is a compact rich renderable (tasks done, running, blocked, in review; the
analysis as a progress bar of file checks; findings so far) for a terminal, and
``lines`` gives plain lines for logs and pipes: one when a task changes state or
the goal ends, and the running figures every few seconds.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from callsheet.events.catalog import TaskAnswered, TaskQuestion
from callsheet.events.envelope import Event
from callsheet.projections import board as board_projection
from callsheet.projections import findings as findings_projection
from callsheet.projections.board import Board
from callsheet.projections.findings import Findings
from callsheet.review.plan import ANALYST

__all__ = ["ReviewProgress"]

_SHOWN = ("done", "running", "blocked", "in_review", "assigned", "planned", "failed", "cancelled")


@dataclass
class ReviewProgress:
    """What a review has done so far, from its events."""

    goal_id: str
    board: Board = field(default_factory=Board)
    findings: Findings = field(default_factory=Findings)
    started: float = field(default_factory=time.monotonic)
    asking: dict[str, str] = field(default_factory=dict)
    """Questions waiting for a person, by id (a budget the next task would pass)."""
    _status: dict[str, str] = field(default_factory=dict)
    _said_at: float = 0.0

    def feed(self, event: Event) -> list[str]:
        """Fold one event; return the plain lines worth printing for it."""
        if event.goal_id != self.goal_id:
            return []
        self.board = board_projection.fold(self.board, event)
        self.findings = findings_projection.fold(self.findings, event)
        out: list[str] = []
        stamp = f"[{time.monotonic() - self.started:6.1f}s]"
        for card in self.board.tasks.values():
            if self._status.get(card.task_id) != card.status:
                self._status[card.task_id] = card.status
                who = f" by {card.worker}" if card.worker and card.status == "running" else ""
                reason = f": {card.reason}" if card.reason and card.status != "running" else ""
                out.append(f"{stamp} {card.task_id}: {card.status}{who}{reason}"[:300])
        out += self._questions(event, stamp)
        if event.event_type in ("goal.completed", "goal.cancelled", "goal.rejected"):
            out.append(f"{stamp} goal {self.goal_id}: {self.board.outcome}")
        elif time.monotonic() - self._said_at > 5 and event.event_type == "task.progress":
            self._said_at = time.monotonic()
            out.append(f"{stamp} {self.figures()}")
        return out

    def _questions(self, event: Event, stamp: str) -> list[str]:
        """A question for a person, and its answer: said, since the review waits for it."""
        if isinstance(event, TaskQuestion) and event.data.addressed_to == "human":
            self.asking[event.data.question_id] = event.data.question
            return [f"{stamp} waiting for a person: {event.data.question}"]
        if isinstance(event, TaskAnswered) and event.data.question_id in self.asking:
            del self.asking[event.data.question_id]
            d = event.data
            return [f"{stamp} {d.answered_by} answered {d.question_id}: {d.answer}"[:300]]
        return []

    def checks(self) -> tuple[float, int]:
        """File checks done and planned (a file analysed by one task is one check)."""
        done, total = 0.0, 0
        for card in self.board.tasks.values():
            if card.role != ANALYST:
                continue
            files = len(card.inputs.get("files", []))
            total += files
            if card.status == "done":
                done += files
            elif card.status != "cancelled":
                done += files * card.percent / 100.0
        return done, total

    def task_counts(self) -> Counter[str]:
        """Tasks by status."""
        return Counter(card.status for card in self.board.tasks.values())

    def figures(self) -> str:
        """The running figures in one line."""
        tasks = self.task_counts()
        done, total = self.checks()
        reported = len(self.findings.findings)
        kept = len(self.findings.by_status("confirmed"))
        verified = self.findings.by_status("confirmed")
        errors = sum(1 for c in verified if self.findings.severity(c) == "error")
        parts = [
            f"{tasks['done']} of {len(self.board.tasks)} tasks done",
            f"{tasks['running']} running",
        ]
        parts += [f"{tasks[s]} {s.replace('_', ' ')}" for s in ("blocked", "in_review") if tasks[s]]
        parts.append(f"file checks {int(done)}/{total}")
        parts.append(f"findings {reported} reported, {kept} verified ({errors} errors)")
        return "; ".join(parts)

    def view(self) -> RenderableType:
        """A compact picture for a terminal (rich)."""
        tasks = self.task_counts()
        done, total = self.checks()
        head = Text(f"review {self.goal_id}  ", style="bold")
        head.append(f"{time.monotonic() - self.started:5.1f}s", style="dim")
        counts = Text("tasks: ")
        for status in _SHOWN:
            if tasks[status]:
                counts.append(f"{tasks[status]} {status.replace('_', ' ')}  ")
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=max(total, 1), completed=done, width=40),
            Text(f"{int(done)}/{total} file checks"),
        )
        reported = len(self.findings.findings)
        verified = self.findings.by_status("confirmed")
        sev = Counter(self.findings.severity(c) for c in verified)
        found = Text(
            f"findings: {reported} reported, {len(verified)} verified "
            f"({sev['error']} errors, {sev['warning']} warnings, {sev['note']} notes)"
        )
        running = Table.grid(padding=(0, 2))
        for card in self.board.tasks.values():
            if card.status in ("running", "blocked", "in_review"):
                running.add_row(
                    card.task_id, card.status, card.worker or "-", f"{card.percent:3.0f}%"
                )
        asking = [
            Text(f"waiting for a person: {text}", style="yellow") for text in self.asking.values()
        ]
        return Group(head, counts, bar, found, running, *asking)
