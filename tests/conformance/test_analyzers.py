"""One conformance suite that every analyzer adapter passes, each on real files with its real tool.

``AnalyzerContract`` is the suite; each adapter's class below subclasses it with a
file holding a problem its tool finds, and the rule and line it must be found at.
Nothing is mocked: the tools run in subprocesses, as the crew runs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path
from typing import ClassVar

import pytest

from callsheet.agents.tools import ToolError, ToolRun, run_tool
from callsheet.events.catalog import SEVERITIES, Perspective
from callsheet.review.analyzers import (
    Analyzer,
    Bandit,
    Job,
    Mypy,
    Pytest,
    RadonComplexity,
    RadonMaintainability,
    Raw,
    Ruff,
)
from callsheet.review.analyzers.ruff import RuffTogether, owner
from callsheet.review.config import read_config

BROKEN = "def broken(:\n    pass\n"
SHADOWS = "raise SystemExit('the reviewed code was imported by the tool')\n"
"""Modules named like the standard library's: a tool that imports them from the tree breaks."""

COMPLEX = (
    "def f(a, b, c, d, e):\n"
    + "".join(f"    if a == {i} and (b or c):\n        return {i}\n" for i in range(12))
    + "    return 0 if d or e else -1\n"
)


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


class AnalyzerContract:
    """What every adapter does (see the module docstring)."""

    analyzer: ClassVar[Analyzer]
    files: ClassVar[dict[str, str]]
    """The tree: relative path -> content (the planted problem is in ``planted_path``)."""
    planted_path: ClassVar[str]
    rule: ClassVar[str]
    line: ClassVar[int]
    tests: ClassVar[tuple[str, ...]] = ()
    stops_at_syntax_errors: ClassVar[bool] = False
    takes_shadows: ClassVar[bool] = True
    """The tool refuses to look further once a file does not parse (mypy)."""
    garbage: ClassVar[ToolRun] = ToolRun(1, "this is not the tool's output {", "", {}, (), 0.0)

    @pytest.fixture(scope="class")
    @classmethod
    def tree(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        root = tmp_path_factory.mktemp(cls.__name__)
        # Tests run the project's code, and mypy reads a top-level typing.py as the
        # standard library's (and stops, saying so): for them a project's os.py is its
        # own business. The other tools must not import the reviewed code.
        names = ("logging", "json", "os", "typing", "re") if cls.takes_shadows else ()
        shadows = {f"{name}.py": SHADOWS for name in names}
        for rel, text in {**shadows, **cls.files, "broken.py": BROKEN}.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        return root

    @classmethod
    def job(cls, tree: Path, files: tuple[str, ...] | None = None) -> Job:
        every = {*cls.files} if cls.stops_at_syntax_errors else {*cls.files, "broken.py"}
        names = tuple(sorted(every)) if files is None else files
        return Job(
            root=str(tree),
            files=names,
            config=read_config(tree),
            timeout=120.0,
            test_files=frozenset(f for f in names if f in cls.tests),
        )

    @pytest.fixture(scope="class")
    @classmethod
    def analysed(cls, tree: Path) -> tuple[Job, ToolRun, list[Raw], str]:
        before = tree_digest(tree)
        job = cls.job(tree)
        invocation = cls.analyzer.invocation(job)
        assert invocation is not None
        run = asyncio.run(run_tool(invocation))
        return job, run, cls.analyzer.parse(run, job), before

    def test_finds_the_planted_problem_at_its_line(
        self, analysed: tuple[Job, ToolRun, list[Raw], str]
    ) -> None:
        _, _, found, _ = analysed
        places = {(f.path, f.line, f.rule) for f in found}
        assert (self.planted_path, self.line, self.rule) in places, sorted(places)

    def test_findings_are_well_formed(
        self, analysed: tuple[Job, ToolRun, list[Raw], str], tree: Path
    ) -> None:
        job, _, found, _ = analysed
        assert found
        for f in found:
            assert f.path in job.files and not f.path.startswith("/")
            lines = (tree / f.path).read_text().splitlines()
            assert 1 <= f.line <= max(1, len(lines))
            assert f.column is None or f.column >= 1
            assert f.end_line is None or f.end_line >= 1
            assert f.severity in SEVERITIES
            assert f.rule and f.message

    def test_the_exact_command_line_is_known(
        self, analysed: tuple[Job, ToolRun, list[Raw], str]
    ) -> None:
        _, run, _, _ = analysed
        assert run.command and "{tmp}" not in " ".join(run.command)
        assert run.duration_ms > 0

    def test_the_reviewed_tree_is_not_modified(
        self, analysed: tuple[Job, ToolRun, list[Raw], str], tree: Path
    ) -> None:
        assert tree_digest(tree) == analysed[3]

    def test_nothing_to_analyse_runs_nothing(self, tree: Path) -> None:
        assert self.analyzer.invocation(self.job(tree, ())) is None

    def test_output_that_is_not_the_tools_is_a_tool_error(self, tree: Path) -> None:
        with pytest.raises(ToolError):
            self.analyzer.parse(self.garbage, self.job(tree))

    def test_a_rerun_for_the_rule_confirms_it(self, tree: Path) -> None:
        job = self.job(tree, (self.planted_path, *self.tests))
        invocation = self.analyzer.confirm(job, [self.rule])
        assert invocation is not None
        again = self.analyzer.parse(asyncio.run(run_tool(invocation)), job)
        assert (self.planted_path, self.line, self.rule) in {
            (f.path, f.line, f.rule) for f in again
        }

    def test_a_rerun_for_no_rule_runs_nothing(self, tree: Path) -> None:
        assert self.analyzer.confirm(self.job(tree), []) is None

    def test_a_file_that_does_not_parse_is_never_a_crash(self, tree: Path) -> None:
        job = self.job(tree, tuple(sorted({*self.files, "broken.py"})))
        invocation = self.analyzer.invocation(job)
        assert invocation is not None
        run = asyncio.run(run_tool(invocation))
        if self.stops_at_syntax_errors:
            with pytest.raises(ToolError, match=r"stopped at broken\.py:1"):
                self.analyzer.parse(run, job)
        else:
            assert all(f.path != "broken.py" or f.line >= 1 for f in self.analyzer.parse(run, job))


class TestRuffSecurity(AnalyzerContract):
    analyzer = Ruff("security")
    files: ClassVar[dict[str, str]] = {"app.py": "import os\n\n\ndef run(x):\n    return eval(x)\n"}
    planted_path, rule, line = "app.py", "S307", 5


class TestRuffBugs(AnalyzerContract):
    analyzer = Ruff("bugs")
    files: ClassVar[dict[str, str]] = {"app.py": "def f():\n    return undefined_name\n"}
    planted_path, rule, line = "app.py", "F821", 2


class TestRuffComplexity(AnalyzerContract):
    analyzer = Ruff("complexity")
    files: ClassVar[dict[str, str]] = {"app.py": COMPLEX}
    planted_path, rule, line = "app.py", "C901", 1


class TestRuffStyle(AnalyzerContract):
    analyzer = Ruff("style")
    files: ClassVar[dict[str, str]] = {"app.py": "import sys\nimport os\n\nprint(os, sys)\n"}
    planted_path, rule, line = "app.py", "I001", 1


class TestRuffStyleWithTheProjectsConfiguration(AnalyzerContract):
    analyzer = Ruff("style")
    files: ClassVar[dict[str, str]] = {
        "pyproject.toml": '[tool.ruff.lint]\nselect = ["E501"]\n[tool.ruff]\nline-length = 20\n',
        "app.py": "value = 'a fairly long line here'\n",
    }
    planted_path, rule, line = "app.py", "E501", 1


class TestBandit(AnalyzerContract):
    analyzer = Bandit()
    files: ClassVar[dict[str, str]] = {
        "app.py": "import subprocess\n\n\ndef run(x):\n    subprocess.call(x, shell=True)\n"
    }
    planted_path, rule, line = "app.py", "B602", 5


class TestRadonComplexity(AnalyzerContract):
    analyzer = RadonComplexity()
    files: ClassVar[dict[str, str]] = {"app.py": COMPLEX}
    planted_path, rule, line = "app.py", "CC", 1


class TestRadonMaintainability(AnalyzerContract):
    analyzer = RadonMaintainability()
    # Much logic, no comments, short: a low maintainability index.
    files: ClassVar[dict[str, str]] = {"app.py": COMPLEX * 4}
    planted_path, rule, line = "app.py", "MI", 1


class TestMypy(AnalyzerContract):
    analyzer = Mypy()
    files: ClassVar[dict[str, str]] = {"app.py": "def f(x: int) -> str:\n    return x\n"}
    planted_path, rule, line = "app.py", "return-value", 2
    stops_at_syntax_errors = True
    takes_shadows = False


class TestPytest(AnalyzerContract):
    analyzer = Pytest()
    files: ClassVar[dict[str, str]] = {
        "calc.py": "def add(a, b):\n    return a - b\n\n\ndef unused(x):\n    y = x * 2\n"
        "    z = y + 1\n    w = z * 3\n    return w\n",
        "tests/test_calc.py": (
            "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
        ),
        "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
    }
    tests = ("tests/test_calc.py",)
    planted_path, rule, line = "tests/test_calc.py", "test-failure", 5
    takes_shadows = False
    garbage = ToolRun(1, "", "", {"junit": "<not xml", "coverage": None}, (), 0.0)

    def test_a_poorly_covered_module_is_reported(
        self, analysed: tuple[Job, ToolRun, list[Raw], str]
    ) -> None:
        _, _, found, _ = analysed
        (low,) = [f for f in found if f.rule == "low-coverage"]
        assert low.path == "calc.py" and low.line == 6
        assert "never run: lines 6-9" in low.message

    def test_coverage_is_measured_once(self) -> None:
        assert not self.analyzer.reconfirms("low-coverage")
        assert self.analyzer.reconfirms("test-failure")


SHOP = Path(__file__).resolve().parents[2] / "examples" / "review" / "shop"


@pytest.mark.parametrize("configured", [False, True], ids=["isolated", "project-config"])
def test_one_ruff_run_for_several_perspectives_finds_what_their_own_runs_find(
    configured: bool, tmp_path: Path
) -> None:
    """``RuffTogether``: the union of the perspectives' rules, split back, equals their runs."""
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    if not configured:  # the shop configures ruff in its pyproject.toml
        (root / "pyproject.toml").unlink()
    files = tuple(sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py")))
    tests = frozenset(f for f in files if "test" in f)
    job = Job(root=str(root), files=files, config=read_config(root), test_files=tests)
    wanted: list[Perspective] = ["security", "bugs", "complexity", "style"]
    together = RuffTogether(wanted, job)
    assert set(together.perspectives) == (
        {"security", "bugs", "complexity"} if configured else set(wanted)
    )
    invocation = together.invocation(job)
    assert invocation is not None
    shared = {
        (perspective, raw.path, raw.line, raw.rule, raw.message)
        for perspective, raw in together.parse(asyncio.run(run_tool(invocation)), job)
    }
    alone: set[tuple[str, str, int, str, str]] = set()
    for perspective in together.perspectives:
        ruff = Ruff(perspective)
        own = ruff.invocation(job)
        assert own is not None
        run = asyncio.run(run_tool(own))
        alone |= {(perspective, r.path, r.line, r.rule, r.message) for r in ruff.parse(run, job)}
    assert shared == alone
    assert {p for p, *_ in shared} == set(together.perspectives)  # each found something
    assert not any(p == "security" and path in tests for p, path, *_ in shared)


def test_ruff_rules_belong_to_the_perspective_whose_family_selects_them() -> None:
    wanted: list[Perspective] = ["security", "bugs", "complexity", "style"]
    assert owner("S101", wanted) == "security"
    assert owner("SIM102", wanted) == "style"  # not flake8-bandit's S
    assert owner("C901", wanted) == "complexity"
    assert owner("C408", wanted) == "style"  # flake8-comprehensions, not mccabe
    assert owner("PLE0101", wanted) == "bugs"
    assert owner("PLW0603", wanted) == "style"
    assert owner("F401", wanted) == "bugs"
    assert owner("FBT001", wanted) == "style"
    assert owner("S101", ["bugs", "style"]) is None  # security's, though not reviewed
