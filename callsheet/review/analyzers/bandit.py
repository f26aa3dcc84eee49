"""bandit, for security: what ruff's flake8-bandit port lacks.

That is bandit's severity and confidence, CWE ids, and checks ruff does not
have. Findings it shares with ruff's ``S`` rules are merged by the verifier.
"""

from __future__ import annotations

from collections.abc import Sequence

from callsheet.agents.tools import Invocation, ToolError, ToolRun
from callsheet.events.catalog import Severity
from callsheet.review.analyzers.base import Analyzer, Job, Raw, parse_json, relative

__all__ = ["Bandit", "severity"]

_LEVELS: dict[str, Severity] = {"HIGH": "error", "MEDIUM": "warning", "LOW": "note"}
_DEMOTED: dict[Severity, Severity] = {"error": "warning", "warning": "note", "note": "note"}


def severity(issue_severity: str, confidence: str) -> Severity:
    """Bandit's severity, one level lower when bandit itself has low confidence."""
    level = _LEVELS.get(issue_severity.upper(), "warning")
    return _DEMOTED[level] if confidence.upper() == "LOW" else level


class Bandit(Analyzer):
    """bandit's issues in the code (test files are left to the other perspectives)."""

    name = "bandit"
    perspective = "security"

    def _args(self, job: Job, files: Sequence[str], tests: Sequence[str] = ()) -> list[str]:
        args = ["-f", "json", "-q"]
        if job.config.bandit_config is not None:
            args += ["-c", job.config.bandit_config]
        if tests:
            args += ["-t", ",".join(tests)]
        return [*args, "--", *files]

    def invocation(self, job: Job) -> Invocation | None:
        """``bandit -f json`` on the code files."""
        files = job.code_files
        if not files:
            return None
        return Invocation(
            "bandit", tuple(self._args(job, files)), job.root, timeout=job.timeout,
            ok_exit=frozenset({0, 1}),
        )  # fmt: skip

    def confirm(self, job: Job, rules: Sequence[str]) -> Invocation | None:
        """Bandit again on the code files, running only these tests."""
        files = job.code_files
        if not files or not rules:
            return None
        args = self._args(job, files, sorted(set(rules)))
        return Invocation(
            "bandit", tuple(args), job.root, timeout=job.timeout, ok_exit=frozenset({0, 1})
        )

    def parse(self, run: ToolRun, job: Job) -> list[Raw]:
        """Bandit's results (files it cannot parse are the inventory's syntax errors)."""
        data = parse_json(run, self.name)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ToolError(self.name, "its JSON output has no results list", retryable=False)
        wanted = set(job.files)
        found: list[Raw] = []
        for r in data["results"]:
            path = relative(job.root, str(r.get("filename", "")))
            test_id = r.get("test_id")
            if path not in wanted or not isinstance(test_id, str):
                continue
            lines = r.get("line_range") or [r.get("line_number", 1)]
            cwe = (r.get("issue_cwe") or {}).get("id")
            found.append(
                Raw(
                    path=path,
                    line=max(1, int(r.get("line_number", 1))),
                    column=max(1, int(r.get("col_offset", 0)) + 1),
                    end_line=max(1, int(max(lines))),
                    rule=test_id,
                    message=f"{r.get('issue_text', '')} ({r.get('test_name', test_id)}, "
                    f"confidence {str(r.get('issue_confidence', '')).lower()})"[:65536],
                    severity=severity(
                        str(r.get("issue_severity", "")), str(r.get("issue_confidence", ""))
                    ),
                    help_uri=r.get("more_info") if isinstance(r.get("more_info"), str) else None,
                    tags=(f"CWE-{cwe}",) if isinstance(cwe, int) else (),
                )
            )
        return found
