"""radon, for complexity: functions' cyclomatic complexity and modules' maintainability index.

``cc`` is merged by the verifier with ruff's C901 where both report a function;
the maintainability index (``mi``) is what ruff lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callsheet.agents.tools import Invocation, ToolError, ToolRun
from callsheet.events.catalog import Severity
from callsheet.review.analyzers.base import Analyzer, Job, Raw, parse_json, relative

__all__ = ["CC_RULE", "MI_RULE", "RadonComplexity", "RadonMaintainability"]

CC_RULE = "CC"
"""Rule id of a function over the complexity limit (radon's rank C or worse)."""
MI_RULE = "MI"
"""Rule id of a module of low maintainability (radon's rank B or worse)."""

_CC_SEVERITY: dict[str, Severity] = {"C": "note", "D": "warning", "E": "warning", "F": "error"}
_MI_SEVERITY: dict[str, Severity] = {"B": "note", "C": "warning"}


def _results(run: ToolRun, tool: str) -> dict[str, Any]:
    data = parse_json(run, tool)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ToolError(tool, "its JSON output is not an object of files", retryable=False)
    return data


class RadonComplexity(Analyzer):
    """Functions and methods of rank C or worse (complexity over 10)."""

    name = "radon"
    perspective = "complexity"

    @property
    def key(self) -> str:
        """``radon-cc/complexity``."""
        return "radon-cc/complexity"

    def invocation(self, job: Job) -> Invocation | None:
        """``radon cc -j -n C`` on the files."""
        if not job.files:
            return None
        args = ("cc", "-j", "-n", "C", "--", *job.files)
        return Invocation("radon", args, job.root, timeout=job.timeout)

    def parse(self, run: ToolRun, job: Job) -> list[Raw]:
        """One finding per function or method over the limit."""
        wanted = set(job.files)
        found: list[Raw] = []
        for name, blocks in _results(run, self.name).items():
            path = relative(job.root, name)
            if path not in wanted or not isinstance(blocks, list):
                continue  # a file radon could not parse reports an error object instead
            for b in blocks:
                rank = str(b.get("rank", ""))
                if b.get("type") not in ("function", "method") or rank not in _CC_SEVERITY:
                    continue
                owner = f"{b['classname']}." if b.get("classname") else ""
                found.append(
                    Raw(
                        path=path,
                        line=max(1, int(b.get("lineno", 1))),
                        column=max(1, int(b.get("col_offset", 0)) + 1),
                        end_line=max(1, int(b.get("endline", b.get("lineno", 1)))),
                        rule=CC_RULE,
                        message=f"`{owner}{b.get('name')}` has a cyclomatic complexity of "
                        f"{b.get('complexity')} (rank {rank}); split it into smaller functions",
                        severity=_CC_SEVERITY[rank],
                        help_uri="https://radon.readthedocs.io/en/latest/intro.html",
                    )
                )
        return found

    def confirm(self, job: Job, rules: Sequence[str]) -> Invocation | None:
        """Radon cc again on the files."""
        return self.invocation(job) if rules else None


class RadonMaintainability(Analyzer):
    """Modules whose maintainability index ranks B (below 20) or C (below 10)."""

    name = "radon"
    perspective = "complexity"

    @property
    def key(self) -> str:
        """``radon-mi/complexity``."""
        return "radon-mi/complexity"

    def invocation(self, job: Job) -> Invocation | None:
        """``radon mi -j`` on the code files (test code is not held to it)."""
        files = job.code_files
        if not files:
            return None
        return Invocation("radon", ("mi", "-j", "--", *files), job.root, timeout=job.timeout)

    def parse(self, run: ToolRun, job: Job) -> list[Raw]:
        """One finding per module ranked B or C."""
        wanted = set(job.files)
        found: list[Raw] = []
        for name, result in _results(run, self.name).items():
            path = relative(job.root, name)
            if path not in wanted or not isinstance(result, dict) or "error" in result:
                continue
            rank = str(result.get("rank", ""))
            if rank not in _MI_SEVERITY:
                continue
            found.append(
                Raw(
                    path=path,
                    line=1,
                    rule=MI_RULE,
                    message=f"maintainability index {float(result.get('mi', 0)):.1f} "
                    f"(rank {rank}): the module is hard to change safely",
                    severity=_MI_SEVERITY[rank],
                    help_uri="https://radon.readthedocs.io/en/latest/intro.html",
                )
            )
        return found

    def confirm(self, job: Job, rules: Sequence[str]) -> Invocation | None:
        """Radon mi again on the code files."""
        return self.invocation(job) if rules else None
