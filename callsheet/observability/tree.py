"""A goal's causal tree: each event under the event that caused it, failures and retries marked.

The same tree is a trace's span tree (``traces``: parent = cause), the
dashboard's expandable tree and ``callsheet trace --tree``'s text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from callsheet.events.store import StoredEvent
from callsheet.observability.semconv import FAILURES

__all__ = ["CausalNode", "causal_tree", "mark", "render_tree", "walk"]


@dataclass(slots=True)
class CausalNode:
    """One event of the tree.

    Attributes:
        stored: The event.
        children: The events it caused, in log order.
    """

    stored: StoredEvent
    children: list[CausalNode] = field(default_factory=list)


def mark(stored: StoredEvent) -> str | None:
    """``failed`` for a failure event, ``retry`` for a second or later try, else ``None``; pure."""
    event = stored.event
    if event.event_type in FAILURES:
        return "failed"
    if event.event_type == "task.reassigned":
        return "retry"
    attempt = getattr(getattr(event, "data", None), "attempt", 1)
    if event.event_type in ("task.started", "task.assigned") and isinstance(attempt, int):
        return "retry" if attempt > 1 else None
    return None


def causal_tree(events: Iterable[StoredEvent]) -> list[CausalNode]:
    """The roots of the causal tree of ``events`` (in log order); pure.

    An event whose cause is not among ``events`` is a root, as the first event
    of a goal is.
    """
    nodes: dict[str, CausalNode] = {}
    roots: list[CausalNode] = []
    for stored in events:
        node = CausalNode(stored)
        event = stored.event
        if event.id in nodes:
            continue  # a duplicate id: the first copy is the event
        nodes[event.id] = node
        parent = nodes.get(event.causation_id) if event.causation_id else None
        (parent.children if parent is not None else roots).append(node)
    return roots


def walk(roots: Iterable[CausalNode], depth: int = 0) -> Iterator[tuple[int, CausalNode]]:
    """Every node with its depth, depth first, without recursion (a long chain is fine)."""
    stack = [(depth, n) for n in reversed(list(roots))]
    while stack:
        level, node = stack.pop()
        yield level, node
        stack.extend((level + 1, c) for c in reversed(node.children))


def _label(node: CausalNode) -> str:
    stored = node.stored
    event = stored.event
    task = f" {escape(event.task_id)}" if event.task_id else ""
    text = f"[bold]{escape(event.event_type)}[/bold]{task}  [dim]{escape(event.producer)}"
    text += f" #{stored.seq} {event.id}[/dim]"
    flag = mark(stored)
    if flag == "failed":
        text = f"[red]✗ {text}[/red]"
    elif flag == "retry":
        text = f"[yellow]↻ {text}[/yellow]"
    return text


def render_tree(roots: list[CausalNode], *, width: int = 160, color: bool = False) -> str:
    """The tree as text (``✗`` failed, ``↻`` a retry), one event a line."""
    top = Tree(f"{sum(1 for _ in walk(roots))} events", guide_style="dim")
    branches: dict[int, Tree] = {}
    for level, node in walk(roots):
        above = top if level == 0 else branches[level - 1]
        branches[level] = above.add(_label(node))
    console = Console(width=width, record=True, color_system="standard" if color else None)
    with console.capture() as captured:
        console.print(top)
    return captured.get()
