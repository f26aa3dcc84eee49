"""ruff, for four perspectives: security, bugs, complexity and style.

Security is flake8-bandit (``S``); bugs are pyflakes (``F``), bugbear (``B``)
and pylint's errors (``PLE``); complexity is mccabe (``C90``) and ``PERF``.

With a ruff configuration of its own, the project's settings apply (line length,
per-file ignores, exclusions; its ignored rules stay ignored when a perspective
selects its families); the style perspective takes the project's own selection.
Without one, ruff runs isolated with this module's defaults and what the project
says elsewhere (black's or flake8's line length, ``requires-python``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from callsheet.agents.tools import Invocation, ToolError, ToolRun
from callsheet.events.catalog import FixEdit, Perspective, Severity, SuggestedFix
from callsheet.review.analyzers.base import Analyzer, Job, Raw, parse_json, relative

__all__ = [
    "FAMILIES",
    "STYLE_DEFAULT",
    "Ruff",
    "RuffTogether",
    "diagnostics",
    "owner",
    "severity",
]

FAMILIES: dict[Perspective, tuple[str, ...]] = {
    "security": ("S",),
    "bugs": ("F", "B", "PLE"),
    "complexity": ("C90", "PERF"),
}
"""Rule families each perspective selects (style takes the rest)."""
STYLE_DEFAULT = ("E", "W", "I", "N", "UP", "SIM")
"""The style families used when the project has no ruff configuration."""

_ERRORS = frozenset(
    {
        # Undefined names and broken constructs: the code fails when it runs.
        "F821", "F822", "F823", "F631", "F632", "F633", "F701", "F702", "F704", "F706",
        "F707", "F722", "F811", "B012", "PLE0101", "PLE0116", "PLE0117", "PLE1142",
        # Security problems that are exploitable as they stand.
        "S102", "S301", "S307", "S506", "S602", "S604", "S605", "S608", "S611", "S701",
        "S501", "S323",
    }
)  # fmt: skip
_NOTES = frozenset({"S101", "S110", "S112", "S311", "S404", "S603", "S607", "B905"})


def severity(code: str) -> Severity:
    """The severity of a ruff rule, by the family's meaning and a list of known cases."""
    family = code.rstrip("0123456789")
    if code in _ERRORS or family == "PLE":
        return "error"
    if code in _NOTES:
        return "note"
    if family in ("S", "F", "B") or code.startswith("C90"):
        return "warning"
    return "note"  # performance and style


def _fix(diagnostic: dict[str, Any]) -> SuggestedFix | None:
    fix = diagnostic.get("fix")
    if not isinstance(fix, dict):
        return None
    edits = []
    for edit in fix.get("edits") or []:
        start, end = edit.get("location") or {}, edit.get("end_location") or {}
        edits.append(
            FixEdit(
                start_line=max(1, int(start.get("row", 1))),
                start_column=max(1, int(start.get("column", 1))),
                end_line=max(1, int(end.get("row", 1))),
                end_column=max(1, int(end.get("column", 1))),
                content=str(edit.get("content", ""))[:65536],
            )
        )
    applicability = fix.get("applicability")
    return SuggestedFix(
        description=str(fix.get("message") or "ruff can fix this")[:65536],
        applicability=applicability if applicability in ("safe", "unsafe") else "manual",
        edits=edits,
    )


class Ruff(Analyzer):
    """ruff's diagnostics of one perspective, with ruff's own fixes."""

    name = "ruff"

    def __init__(self, perspective: Perspective) -> None:
        """Create it for a perspective (``security``, ``bugs``, ``complexity`` or ``style``)."""
        if perspective == "tests":
            raise ValueError("ruff has no tests perspective")
        self.perspective = perspective

    def _files(self, job: Job) -> tuple[str, ...]:
        # Assertions and fixed passwords are how tests are written: security reviews the code.
        return job.code_files if self.perspective == "security" else job.files

    @staticmethod
    def _settings(job: Job, *, lint: bool = True) -> list[str]:
        """The project's ruff settings: its configuration file, or isolated with what it says."""
        cfg = job.config
        if cfg.ruff_config is not None:
            return ["--config", cfg.ruff_config]
        args = ["--isolated", "--line-length", str(cfg.line_length or 88)]
        if cfg.target_version:
            args += ["--target-version", cfg.target_version]
        if lint and cfg.max_complexity:
            args += ["--config", f"lint.mccabe.max-complexity = {cfg.max_complexity}"]
        return args

    def _args(self, job: Job, select: Sequence[str] | None) -> list[str]:
        cfg = job.config
        args = ["check", "--no-cache", "--output-format", "json", "--exit-zero", "--force-exclude"]
        args += self._settings(job)
        if cfg.ruff_config is not None and select is not None and cfg.ruff_ignore:
            args += ["--ignore", ",".join(cfg.ruff_ignore)]
        if select is not None:
            args += ["--select", ",".join(select)]
        elif cfg.ruff_config is not None:  # the project's own style, less what others cover
            owned = [code for families in FAMILIES.values() for code in families]
            args += ["--extend-ignore", ",".join(owned)]
        else:
            args += ["--select", ",".join(STYLE_DEFAULT)]
        return args

    def _selection(self) -> tuple[str, ...] | None:
        return FAMILIES.get(self.perspective)

    def invocation(self, job: Job) -> Invocation | None:
        """``ruff check --output-format json`` on the files, with the perspective's rules."""
        files = self._files(job)
        if not files:
            return None
        args = [*self._args(job, self._selection()), "--", *files]
        return Invocation("ruff", tuple(args), job.root, timeout=job.timeout)

    def confirm(self, job: Job, rules: Sequence[str]) -> Invocation | None:
        """Ruff again on the files, for exactly these rules."""
        files = self._files(job)
        if not files or not rules:
            return None
        args = [*self._args(job, sorted(set(rules))), "--", *files]
        return Invocation("ruff", tuple(args), job.root, timeout=job.timeout)

    def fix_invocation(
        self,
        job: Job,
        rules: Sequence[str],
        *,
        unsafe: bool,
        base: Mapping[str, str],
        settings: Sequence[str] = (),
    ) -> Invocation:
        """Ruff's own fixes of these rules, applied in a private copy (``base`` written first).

        ``settings`` are ruff settings the rules need (``lint.flake8-quotes.inline-quotes =
        'single'``), given over the project's. The fixed files come back as the run's
        outputs, by path.
        """
        args = [*self._args(job, sorted(set(rules))), "--fix"]
        for setting in settings:
            args += ["--config", setting]
        if unsafe:
            args.append("--unsafe-fixes")
        return Invocation(
            "ruff",
            (*args, "--", *job.files),
            "{copy}",
            timeout=job.timeout,
            copy_of=job.root,
            overlay=dict(base),
            outputs={path: "{copy}/" + path for path in job.files},
        )

    def format_invocation(self, job: Job, texts: Mapping[str, str]) -> Invocation:
        """``ruff format`` with the project's settings, of these texts in a private copy."""
        files = sorted(texts)
        args = ["format", "--no-cache", *self._settings(job, lint=False), "--", *files]
        return Invocation(
            "ruff",
            tuple(args),
            "{copy}",
            timeout=job.timeout,
            copy_of=job.root,
            overlay=dict(texts),
            outputs={path: "{copy}/" + path for path in files},
        )

    def review_invocation(
        self, job: Job, rules: Sequence[str], texts: Mapping[str, str]
    ) -> Invocation:
        """Ruff on these texts in a private copy: the project's style, pyflakes, syntax, ``rules``.

        What a fix must not make worse (see ``diagnostics`` for its output).
        """
        files = sorted(texts)
        extra = sorted({"F", "E9", *rules})
        if job.config.ruff_config is not None:
            args = [*self._args(job, None), "--extend-select", ",".join(extra)]
        else:
            args = self._args(job, [*STYLE_DEFAULT, *extra])
        return Invocation(
            "ruff",
            (*args, "--", *files),
            "{copy}",
            timeout=job.timeout,
            copy_of=job.root,
            overlay=dict(texts),
        )

    def parse(self, run: ToolRun, job: Job) -> list[Raw]:
        """The diagnostics, less syntax errors (the inventory reports those once)."""
        data = parse_json(run, self.name)
        if data is None:
            return []
        if not isinstance(data, list):
            raise ToolError(self.name, "its JSON output is not a list", retryable=False)
        wanted = set(job.files)
        found: list[Raw] = []
        for d in data:
            code = d.get("code")
            path = relative(job.root, str(d.get("filename", "")))
            if not isinstance(code, str) or code == "invalid-syntax" or path not in wanted:
                continue
            start = d.get("location") or {}
            end = d.get("end_location") or {}
            found.append(
                Raw(
                    path=path,
                    line=max(1, int(start.get("row", 1))),
                    column=max(1, int(start.get("column", 1))),
                    end_line=max(1, int(end.get("row", start.get("row", 1)))),
                    rule=code,
                    message=str(d.get("message", ""))[:65536],
                    severity=severity(code),
                    fix=_fix(d),
                    help_uri=d.get("url") if isinstance(d.get("url"), str) else None,
                )
            )
        return found


def _matches(selector: str, code: str) -> bool:
    """Whether a rule selector picks a code (``S`` picks ``S101``, not ``SIM101``)."""
    digits = "0123456789"
    return code.startswith(selector) and code.rstrip(digits) == selector.rstrip(digits)


def owner(code: str, perspectives: Sequence[Perspective]) -> Perspective | None:
    """Which of these perspectives a ruff rule belongs to (style takes what no family has)."""
    for perspective in perspectives:
        if any(_matches(s, code) for s in FAMILIES.get(perspective, ())):
            return perspective
    if "style" in perspectives and not any(
        _matches(s, code) for families in FAMILIES.values() for s in families
    ):
        return "style"
    return None


class RuffTogether:
    """One ruff run for several perspectives: the union of their rules, split afterwards.

    Ruff's diagnostics of a rule do not depend on which other rules are selected,
    so one run selecting every family gives what each perspective's run gives,
    for one start and one read of the files. The perspectives that select rule
    families (and style when ruff runs isolated, which selects its defaults the
    same way) share a run; with the project's own ruff configuration, style
    (its own selection, less the families) keeps a run of its own.
    """

    def __init__(self, perspectives: Sequence[Perspective], job: Job) -> None:
        """The perspectives that share the run, of those wanted, for this job's configuration."""
        shared = [p for p in perspectives if p in FAMILIES]
        if "style" in perspectives and job.config.ruff_config is None:
            shared.append("style")
        self.perspectives: tuple[Perspective, ...] = tuple(shared)

    def invocation(self, job: Job) -> Invocation | None:
        """``ruff check`` on the job's files with every shared perspective's rules."""
        if len(self.perspectives) < 2 or not job.files:
            return None
        select: list[str] = []
        for perspective in self.perspectives:
            select += FAMILIES.get(perspective, STYLE_DEFAULT)
        args = [*Ruff(self.perspectives[0])._args(job, select), "--", *job.files]
        return Invocation("ruff", tuple(args), job.root, timeout=job.timeout)

    def parse(self, run: ToolRun, job: Job) -> list[tuple[Perspective, Raw]]:
        """Each diagnostic with its perspective; security's only in code files, as its own run."""
        code_files = set(job.code_files)
        found: list[tuple[Perspective, Raw]] = []
        for raw in Ruff(self.perspectives[0]).parse(run, job):
            perspective = owner(raw.rule, self.perspectives)
            if perspective is None or (perspective == "security" and raw.path not in code_files):
                continue
            found.append((perspective, raw))
        return found


def diagnostics(run: ToolRun, root: str, path: str) -> list[tuple[str, str, int]]:
    """``(code, message, line)`` of one file in ruff's JSON output, syntax errors included.

    File names are taken relative to the folder ruff ran in (a private copy), else ``root``.

    Raises:
        ToolError: The output is not ruff's JSON.
    """
    data = parse_json(run, "ruff") or []
    if not isinstance(data, list):
        raise ToolError("ruff", "its JSON output is not a list", retryable=False)
    found = []
    for d in data:
        if relative(run.workdir or root, str(d.get("filename", ""))) != path:
            continue
        code = d.get("code") or "invalid-syntax"
        found.append(
            (str(code), str(d.get("message", "")), int((d.get("location") or {}).get("row", 1)))
        )
    return found
