"""The project's own tests, run with pytest and coverage (pytest-cov) in a private copy of the tree.

Tests can write anything anywhere, so they never run in the reviewed tree: the
runner copies it first. Findings: each failing or erroring test (at the line
where it failed), and each module the tests cover poorly.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import replace
from pathlib import PurePosixPath

from callsheet.agents.tools import Invocation, ToolError, ToolRun
from callsheet.review.analyzers.base import Analyzer, Job, Raw

__all__ = [
    "COVERAGE_RULE",
    "ERROR_RULE",
    "FAILURE_RULE",
    "LOW_COVERAGE",
    "Pytest",
    "failed_tests",
    "failures",
]

FAILURE_RULE = "test-failure"
ERROR_RULE = "test-error"
COVERAGE_RULE = "low-coverage"
LOW_COVERAGE = 50.0
"""Modules the tests cover less than this (percent of statements) are reported."""

_WHERE_RE = re.compile(r"^(?P<file>[^\s:][^:\n]*\.py):(?P<line>\d+):", re.MULTILINE)
_USAGE = 4  # pytest's exit status for a usage error (an option it does not know)


def _ranges(lines: Sequence[int]) -> str:
    """``3-5, 9`` for [3, 4, 5, 9], at most a few ranges."""
    out: list[str] = []
    start = prev = None
    for n in sorted(lines):
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            out.append(f"{start}-{prev}" if prev != start else str(start))
        start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if prev != start else str(start))
    return ", ".join(out[:8]) + (", ..." if len(out) > 8 else "")


def failures(junit: str) -> dict[str, str] | None:
    """Each test a JUnit report says failed or errored (``classname::name``), with why.

    Why is the first line of the failure's message (its type when it has none).
    None when the report is empty or unreadable: the tests did not run.
    """
    try:
        suite = ET.fromstring(junit) if junit.strip() else None
    except ET.ParseError:
        return None
    if suite is None:
        return None
    found: dict[str, str] = {}
    for case in suite.iter("testcase"):
        problem = next((c for c in case if c.tag in ("failure", "error")), None)
        if problem is None:
            continue
        name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
        said = (problem.get("message") or problem.get("type") or problem.tag).strip()
        found[name] = said.splitlines()[0][:500] if said else problem.tag
    return found


def failed_tests(junit: str) -> set[str]:
    """``classname::name`` of the tests a JUnit report says failed or errored (none: unreadable)."""
    return set(failures(junit) or {})


class Pytest(Analyzer):
    """pytest with coverage, in a private copy; failures and poorly covered modules."""

    name = "pytest"
    perspective = "tests"
    per_file = False  # a test's outcome depends on the code it runs (and may be flaky)
    exclusive = "test-suite"  # two runs at once share files, ports, databases: one at a time

    def invocation(self, job: Job) -> Invocation | None:
        """Pytest with ``--junitxml`` and ``--cov``, in a copy of the root."""
        if not job.test_files:
            return None
        args = ["-q", "-p", "no:cacheprovider", "--junitxml", "{tmp}/junit.xml"]
        args += ["-o", "junit_family=xunit1", "--cov", ".", "--cov-report", "json:{tmp}/cov.json"]
        args += ["--cov-report", ""]
        return Invocation(
            "pytest",
            tuple(args),
            "{copy}",
            timeout=job.timeout,
            env={"COVERAGE_FILE": "{tmp}/.coverage"},
            outputs={"junit": "{tmp}/junit.xml", "coverage": "{tmp}/cov.json"},
            ok_exit=frozenset({0, 1, 2, 5, _USAGE}),
            copy_of=job.root,
            interpreter=job.python,
        )

    def confirm(self, job: Job, rules: Sequence[str]) -> Invocation | None:
        """The failing test files again (a failure that passes now is flaky, and rejected)."""
        base = self.invocation(job)
        if base is None or not any(r in (FAILURE_RULE, ERROR_RULE) for r in rules):
            return None
        return replace(base, args=(*base.args, "--", *sorted(job.test_files)))

    def reconfirms(self, rule: str) -> bool:
        """Failures are run again; a coverage figure is measured once."""
        return rule in (FAILURE_RULE, ERROR_RULE)

    def parse(self, run: ToolRun, job: Job) -> list[Raw]:
        """Failing tests from the JUnit report, poorly covered modules from coverage's JSON.

        Raises:
            ToolError: pytest could not run the suite (a usage error: pytest-cov missing).
        """
        if run.exit_code == _USAGE:
            tail = (run.stderr.strip() or run.stdout.strip()).splitlines()[-2:]
            raise ToolError(
                self.name,
                "could not run the tests (is pytest-cov installed for this Python?): "
                + "; ".join(tail),
                retryable=False,
            )
        wanted = set(job.files)
        return [*self._failures(run, wanted), *self._coverage(run, job, wanted)]

    def _failures(self, run: ToolRun, wanted: set[str]) -> list[Raw]:
        text = run.outputs.get("junit")
        if not text:
            return []
        try:
            suite = ET.fromstring(text)
        except ET.ParseError as exc:
            raise ToolError(self.name, f"unreadable JUnit report: {exc}", retryable=False) from None
        found: list[Raw] = []
        for case in suite.iter("testcase"):
            problem = next(
                (c for c in case if c.tag in ("failure", "error")), None
            )  # skipped tests are not problems
            if problem is None:
                continue
            path = case.get("file") or ""
            if path not in wanted:
                continue
            line = int(case.get("line", "0")) + 1  # pytest writes 0-based lines
            body = problem.text or ""
            # The last place in the test file where it broke, if the traceback says.
            spots = [int(m["line"]) for m in _WHERE_RE.finditer(body) if m["file"] == path]
            if spots:
                line = spots[-1]
            name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
            summary = (problem.get("message") or body.strip() or problem.tag).splitlines()[0]
            rule = FAILURE_RULE if problem.tag == "failure" else ERROR_RULE
            found.append(
                Raw(
                    path=path,
                    line=max(1, line),
                    rule=rule,
                    message=f"{name} {'fails' if rule == FAILURE_RULE else 'errors'}: {summary}"[
                        :65536
                    ],
                    severity="error",
                )
            )
        return found

    def _coverage(self, run: ToolRun, job: Job, wanted: set[str]) -> list[Raw]:
        text = run.outputs.get("coverage")
        if not text:
            return []
        try:
            files = json.loads(text).get("files", {})
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ToolError(
                self.name, f"unreadable coverage report: {exc}", retryable=False
            ) from None
        found: list[Raw] = []
        for name, data in sorted(files.items()):
            path = PurePosixPath(name).as_posix()
            if path not in wanted or path in job.test_files:
                continue
            summary = data.get("summary", {})
            percent = float(summary.get("percent_covered", 100.0))
            missing = [int(n) for n in data.get("missing_lines", [])]
            if summary.get("num_statements", 0) == 0 or percent >= LOW_COVERAGE or not missing:
                continue
            found.append(
                Raw(
                    path=path,
                    line=min(missing),
                    rule=COVERAGE_RULE,
                    message=f"the tests run {percent:.0f}% of this module's statements "
                    f"(never run: lines {_ranges(missing)})",
                    severity="note",
                )
            )
        return found
