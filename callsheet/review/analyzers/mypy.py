"""mypy, for typing, where the project is typed (it configures mypy, or annotates its code).

With the project's mypy configuration its settings apply; without one, mypy
checks the code with imports it cannot find ignored. The cache lives outside
the reviewed tree (the verifier's re-run reuses it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from callsheet.agents.tools import Invocation, ToolError, ToolRun
from callsheet.events.catalog import Severity
from callsheet.review.analyzers.base import Analyzer, Job, Raw, relative

__all__ = ["Mypy", "severity", "type_errors"]

_ENVIRONMENT = frozenset({"import-not-found", "import-untyped", "import", "misc"})
_BLOCKED = 2  # mypy's status when errors (a syntax error) stopped it: its output says which


def severity(code: str | None, level: str) -> Severity:
    """Type errors are errors; notes and what the environment causes (missing stubs) are notes."""
    if level != "error" or code in _ENVIRONMENT:
        return "note"
    return "error"


def _kept(files: Sequence[str], exclude: Sequence[str]) -> tuple[str, ...]:
    """The files mypy would check (it checks a named file even if its configuration excludes it).

    A top-level module named like the standard library's, ``typing.py``, stops
    mypy whatever it is given: "shadows library module", reported as not analysed.
    """
    patterns = [re.compile(p, re.VERBOSE if "\n" in p else 0) for p in exclude]
    return tuple(f for f in files if not any(p.search(f) for p in patterns))


def _blocked(run: ToolRun) -> str:
    """Why mypy stopped before checking (a syntax error in a file it reads), in one line."""
    for line in run.stdout.splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict) and item.get("severity") == "error":
            return (
                f"stopped at {item.get('file')}:{item.get('line')}: {item.get('message')}; "
                "the typing of these files was not checked"
            )
    tail = (run.stderr.strip() or run.stdout.strip() or "no output").splitlines()[-3:]
    return "stopped: " + "; ".join(tail)


class Mypy(Analyzer):
    """mypy's errors in the code files."""

    name = "mypy"
    perspective = "tests"
    per_file = False  # a file's types depend on the modules it imports

    def invocation(self, job: Job) -> Invocation | None:
        """``mypy -O json`` on the code files its configuration does not exclude."""
        files = _kept(job.code_files, job.config.mypy_exclude)
        if not files:
            return None
        cache = "{cache}/mypy" if job.cache else "{tmp}/mypy-cache"
        args = ["-O", "json", "--no-error-summary", "--show-column-numbers"]
        args += ["--show-error-codes", "--no-color-output", "--cache-dir", cache]
        if job.config.mypy_config is not None:
            args += ["--config-file", job.config.mypy_config]
        else:
            args += ["--ignore-missing-imports", "--follow-imports=silent"]
        args += ["--explicit-package-bases", "--", *files]
        return Invocation(
            "mypy",
            tuple(args),
            job.root,
            timeout=job.timeout,
            ok_exit=frozenset({0, 1, _BLOCKED}),
            interpreter=job.python,
            env={"MYPY_FORCE_COLOR": "0"},
            cache=job.cache,
        )

    def check_invocation(self, job: Job, texts: Mapping[str, str]) -> Invocation | None:
        """Mypy on these texts of some files, in a private copy of the tree (a fix to judge).

        Its own cache, in the run's temporary folder: the copy's paths are not the tree's.
        """
        base = self.invocation(replace(job, files=tuple(sorted(texts))))
        if base is None:
            return None
        args = tuple("{tmp}/mypy-cache" if a == "{cache}/mypy" else a for a in base.args)
        return replace(
            base, args=args, cwd="{copy}", copy_of=job.root, overlay=dict(texts), cache=None
        )

    def confirm(self, job: Job, rules: Sequence[str]) -> Invocation | None:
        """Mypy again (incremental: its cache is kept)."""
        return self.invocation(job) if rules else None

    def parse(self, run: ToolRun, job: Job) -> list[Raw]:
        """One finding per error line (notes that follow an error are part of it)."""
        wanted = set(job.files)
        found: list[Raw] = []
        if run.exit_code == _BLOCKED:
            raise ToolError(self.name, _blocked(run), retryable=False)
        for line in run.stdout.splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                raise ToolError(
                    self.name, f"unexpected output: {line[:300]}", retryable=False
                ) from None
            path = relative(job.root, str(item.get("file", "")))
            if path not in wanted or item.get("severity") != "error":
                continue
            code = item.get("code")
            message = str(item.get("message", ""))
            if item.get("hint"):
                message += f" ({item['hint']})"
            column = item.get("column")
            found.append(
                Raw(
                    path=path,
                    line=max(1, int(item.get("line", 1))),
                    column=int(column) + 1 if isinstance(column, int) and column >= 0 else None,
                    rule=str(code or "error"),
                    message=message[:65536],
                    severity=severity(code, "error"),
                    help_uri="https://mypy.readthedocs.io/en/stable/error_code_list.html",
                )
            )
        return found


def type_errors(run: ToolRun, root: str, path: str) -> list[tuple[str, str, int]]:
    """``(code, message, line)`` of mypy's errors in one file (relative to where it ran).

    Raises:
        ToolError: mypy stopped before checking, or its output is not its JSON.
    """
    job = Job(root=run.workdir or root, files=(path,))
    return [(r.rule, r.message, r.line) for r in Mypy().parse(run, job)]
