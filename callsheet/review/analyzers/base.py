"""The port every analyzer adapter implements: files in, the exact command, typed findings out.

An adapter runs one real tool in a subprocess (through ``agents.tools``): it says
which command analyses a ``Job`` (``invocation``), turns the tool's output into
``Raw`` findings (``parse``), and says how to re-run it on the same files for
only some rules, so that a verifier can re-confirm what it found (``confirm``).
Adapters hold no state; the conformance suite in ``tests/conformance`` runs each
one on real files.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from callsheet.agents.tools import Invocation, ToolError, ToolRun
from callsheet.events.catalog import Perspective, Severity, SuggestedFix
from callsheet.review.config import ProjectConfig

__all__ = ["Analyzer", "Job", "Raw", "relative"]


@dataclass(frozen=True, slots=True)
class Job:
    """What to analyse.

    Attributes:
        root: The reviewed folder (absolute).
        files: Python files to analyse, relative to the root.
        config: The project's own tool configuration.
        timeout: Seconds a tool may run.
        python: Interpreter for the project's own tests (the crew's by default).
        cache: Name of a tool cache that outlives one run (``agents.tools.cache_root``).
        test_files: Which of ``files`` are test code.
    """

    root: str
    files: tuple[str, ...]
    config: ProjectConfig = field(default_factory=ProjectConfig)
    timeout: float = 300.0
    python: str | None = None
    cache: str | None = None
    test_files: frozenset[str] = frozenset()

    @property
    def code_files(self) -> tuple[str, ...]:
        """The files that are not test code."""
        return tuple(f for f in self.files if f not in self.test_files)


@dataclass(frozen=True, slots=True)
class Raw:
    """A finding as the tool gave it, before it becomes an event.

    Attributes:
        path: Relative to the root, POSIX style.
        line: 1-based line.
        rule: The tool's rule id.
        message: The problem, in words.
        severity: How bad it is.
        column: 1-based column, if known.
        end_line: Last line of the range, if known.
        fix: A fix the tool offers.
        help_uri: Where the rule is explained.
        tags: e.g. ``CWE-89``.
    """

    path: str
    line: int
    rule: str
    message: str
    severity: Severity
    column: int | None = None
    end_line: int | None = None
    fix: SuggestedFix | None = None
    help_uri: str | None = None
    tags: tuple[str, ...] = ()


def relative(root: str, path: str) -> str | None:
    """``path`` (absolute, or relative to the root) as a POSIX path relative to the root.

    Returns None for a path outside the root.
    """
    base = Path(root)
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = base / candidate
    try:
        rel = candidate.resolve().relative_to(base.resolve())
    except (ValueError, OSError):
        return None
    text = PurePosixPath(rel).as_posix()
    return None if text in ("", ".") else text


def parse_json(run: ToolRun, tool: str, text: str | None = None) -> Any:
    """The tool's JSON output.

    Raises:
        ToolError: It is not JSON (the tool printed something else: a crash, a usage error).
    """
    body = run.stdout if text is None else text
    try:
        return json.loads(body) if body.strip() else None
    except json.JSONDecodeError as exc:
        tail = (run.stderr.strip() or body.strip())[-500:]
        raise ToolError(tool, f"output is not JSON ({exc.msg}): {tail}", retryable=False) from None


class Analyzer(abc.ABC):
    """One real tool, for one perspective.

    Attributes:
        name: The tool's name (``ruff``); also the ``tool`` of its findings.
        perspective: The perspective its findings belong to.
    """

    name: ClassVar[str]
    perspective: Perspective
    per_file: ClassVar[bool] = True
    """Whether a file's findings depend on that file's bytes alone (and the configuration):
    then the same bytes give the same findings, and an unchanged file need not be re-run."""
    exclusive: ClassVar[str | None] = None
    """A resource of the project its runs hold alone (``review.resources``), if any."""

    @property
    def key(self) -> str:
        """What tells this adapter from another of the same tool (``ruff/security``)."""
        return f"{self.name}/{self.perspective}"

    @abc.abstractmethod
    def invocation(self, job: Job) -> Invocation | None:
        """The command that analyses the job's files; None when there is nothing to run."""

    @abc.abstractmethod
    def parse(self, run: ToolRun, job: Job) -> list[Raw]:
        """Findings in the tool's output (only of the job's files).

        Raises:
            ToolError: The output is not what the tool gives when it works.
        """

    def confirm(self, job: Job, rules: Sequence[str]) -> Invocation | None:
        """The command that checks the job's files for these rules again (all rules by default)."""
        del rules
        return self.invocation(job)

    def reconfirms(self, rule: str) -> bool:
        """Whether running the tool again can re-confirm a finding of ``rule``."""
        del rule
        return True
