"""Coherence: whether a fix's new lines follow the project's habits and agree with the other fixes.

Only what a patch adds is judged, and only when it makes a habit worse: a
family of style (quotes, string formatting, print or logging, relative or
absolute imports, naming, line length) drifts when the lines the patch adds
hold more of an off-habit kind than the lines it removes. The habit is, per
family:

- quotes: ``convention.quotes`` when the project's configuration says it, else
  the file's own (most of its one-line strings), else the convention measured
  from the code;
- string formatting, output, imports: the convention (``convention.strings``,
  ``convention.output``, ``convention.imports``), else what the goal's other
  approved fixes add (one adds f-strings, another ``.format``: the later drifts);
- naming and line length: the convention.

Each drift is a finding in the shape the patch review uses
(``{"location": "path:line", "message": ...}``); its message names the
convention and says what fixes it: a ruff rule whose fix is safe (``Q000`` with
the project's quote, ``UP032``), ``ruff format`` for a long line in a file that
followed the formatter, or no tool (``T201``'s fix deletes the call, ``TID252``'s
and ``UP031``'s are unsafe, naming has none). ``remedy`` reads that back, so
the fixer acts on the finding without a second list of rules. Pure.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callsheet.review.conventions import CONVENTION_PREFIX

__all__ = ["DRIFT", "Change", "Remedy", "coherence", "is_drift", "remedy"]

DRIFT = "drift from "
"""How every coherence finding's message starts."""

_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+
_PREFIXES = re.compile(r"^[rRbBuUfF]{0,2}")
_SNAKE = re.compile(r"^_*[a-z][a-z0-9_]*$")
_CAPWORDS = re.compile(r"^_*[A-Z][A-Za-z0-9]*$")
_LEVELS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
_RULE_REMEDY = re.compile(r"; ruff ([A-Z]+[0-9]+) fixes it(?: \(with (.+)\))?$")
_FORMAT_REMEDY = re.compile(r"; ruff format fixes it(?: \(.*\))?$")

Lines = dict[int, Counter[str]]
"""Kinds of a style family found on each line (1-based)."""


@dataclass(frozen=True, slots=True)
class Change:
    """A fix of one file.

    Attributes:
        path: The file, relative to the root.
        before: Its text before the fix.
        after: Its text after.
        name: Who made it (a patch id), named in findings about other fixes.
    """

    path: str
    before: str
    after: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Remedy:
    """What fixes a drift.

    Attributes:
        rule: A ruff rule whose (safe) fix removes it.
        setting: A ruff setting the rule needs (``lint.flake8-quotes.inline-quotes = 'single'``).
        format: ``ruff format`` with the project's settings removes it.
    """

    rule: str | None = None
    setting: str | None = None
    format: bool = False


def is_drift(message: str) -> bool:
    """Whether a review finding's message is a coherence finding."""
    return message.startswith(DRIFT)


def remedy(message: str) -> Remedy | None:
    """What fixes the drift a coherence finding's message describes (None: no tool does)."""
    if not is_drift(message):
        return None
    if (found := _RULE_REMEDY.search(message)) is not None:
        return Remedy(rule=found[1], setting=found[2])
    if _FORMAT_REMEDY.search(message) is not None:
        return Remedy(format=True)
    return None


# -- what each line holds, per family -------------------------------------------------


def _tree(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return None


def _add(found: Lines, line: int, kind: str) -> None:
    found.setdefault(line, Counter())[kind] += 1


def _quotes(text: str) -> Lines:
    """One-line string literals by their quote (those holding a quote are free), per line."""
    found: Lines = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return found
    for token in tokens:
        if token.type != tokenize.STRING and token.type != _FSTRING_START:
            continue
        body = _PREFIXES.sub("", token.string)
        if body.startswith(('"""', "'''")):
            continue
        quote, inner = body[:1], body[1:-1]
        if quote in "\"'" and (token.type == _FSTRING_START or not {"'", '"'} & set(inner)):
            _add(found, token.start[0], "double" if quote == '"' else "single")
    return found


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _strings(tree: ast.Module) -> Lines:
    found: Lines = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            if any(isinstance(v, ast.FormattedValue) for v in node.values):
                _add(found, node.lineno, "f-string")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "format" and _is_str(node.func.value):
                _add(found, node.lineno, "format")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_str(node.left):
            _add(found, node.lineno, "percent")
    return found


def _output(tree: ast.Module) -> Lines:
    found: Lines = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "print":
            _add(found, node.lineno, "print")
        elif (
            isinstance(func, ast.Attribute)
            and func.attr in _LEVELS
            and "log" in ast.unparse(func.value).lower()
        ):
            _add(found, node.lineno, "logging")
    return found


def _imports(tree: ast.Module, first_party: frozenset[str]) -> Lines:
    """Relative imports, and absolute ones of the project's own packages, per line."""
    found: Lines = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                _add(found, node.lineno, "relative")
            elif (node.module or "").split(".")[0] in first_party:
                _add(found, node.lineno, "absolute")
        elif isinstance(node, ast.Import) and any(
            a.name.split(".")[0] in first_party for a in node.names
        ):
            _add(found, node.lineno, "absolute")
    return found


def _names(tree: ast.Module) -> Lines:
    found: Lines = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            dunder = node.name.startswith("__") and node.name.endswith("__")
            if not dunder and not _SNAKE.match(node.name):
                _add(found, node.lineno, f"function {node.name}")
        elif isinstance(node, ast.ClassDef) and not _CAPWORDS.match(node.name):
            _add(found, node.lineno, f"class {node.name}")
    return found


def _long(text: str, width: int) -> Lines:
    found: Lines = {}
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > width:
            _add(found, number, "long")
    return found


# -- comparing what a fix adds with what it removes -----------------------------------


def _changed(before: str, after: str) -> tuple[set[int], set[int]]:
    """The lines a fix removes (numbered in ``before``) and adds (numbered in ``after``)."""
    old, new = before.splitlines(), after.splitlines()
    removed: set[int] = set()
    added: set[int] = set()
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed.update(range(i1 + 1, i2 + 1))
            added.update(range(j1 + 1, j2 + 1))
    return removed, added


@dataclass(frozen=True, slots=True)
class _Added:
    """What a fix adds of one family: net count and first new line, by kind."""

    net: Counter[str]
    first: dict[str, int]


def _added(change: Change, lines: Callable[[str], Lines | None]) -> _Added:
    removed, added = _changed(change.before, change.after)
    old, new = lines(change.before) or {}, lines(change.after) or {}
    net: Counter[str] = Counter()
    first: dict[str, int] = {}
    for number in sorted(added):
        for kind, n in new.get(number, Counter()).items():
            net[kind] += n
            first.setdefault(kind, number)
    for number in removed:
        for kind, n in old.get(number, Counter()).items():
            net[kind] -= n
    return _Added(Counter({k: n for k, n in net.items() if n > 0}), first)


def _ast_lines(
    family: Callable[[ast.Module], Lines],
) -> Callable[[str], Lines | None]:
    def lines(text: str) -> Lines | None:
        tree = _tree(text)
        return family(tree) if tree is not None else None

    return lines


def _majority(counts: Mapping[str, int]) -> str | None:
    best = max(counts.items(), key=lambda kv: kv[1], default=None)
    return best[0] if best is not None and best[1] > 0 else None


def _value(conventions: Mapping[str, Any], name: str, *kinds: str) -> str | None:
    entry = conventions.get(name)
    value = entry.get("value") if isinstance(entry, dict) else None
    return value if value in kinds else None


def _from_others(
    others: Sequence[Change], lines: Callable[[str], Lines | None]
) -> tuple[str, str] | None:
    """The kind the other fixes add most, and the first fix that adds it."""
    total: Counter[str] = Counter()
    by: dict[str, str] = {}
    for other in others:
        for kind, n in _added(other, lines).net.items():
            total[kind] += n
            by.setdefault(kind, other.name or other.path)
    best = _majority(total)
    return (best, by[best]) if best is not None else None


@dataclass(frozen=True, slots=True)
class _Family:
    """One family of style: how to read it, and what fixes a drift from one kind to another."""

    name: str
    words: Mapping[str, str]
    lines: Callable[[str], Lines | None]
    fixes: Mapping[tuple[str, str], Remedy]
    flags: Mapping[tuple[str, str], str]


_STRINGS = _Family(
    "strings",
    {"f-string": "f-strings", "format": "str.format", "percent": "% formatting"},
    _ast_lines(_strings),
    {("f-string", "format"): Remedy(rule="UP032")},
    {("f-string", "percent"): "UP031"},
)
_OUTPUT = _Family(
    "output",
    {"logging": "logging", "print": "print()"},
    _ast_lines(_output),
    {},
    {("logging", "print"): "T201"},
)


def _remedy_words(fix: Remedy | None, flag: str | None) -> str:
    if fix is not None and fix.rule is not None:
        return f"ruff {fix.rule} fixes it" + (f" (with {fix.setting})" if fix.setting else "")
    if fix is not None and fix.format:
        return "ruff format fixes it (the file followed the formatter)"
    if flag is not None:
        return f"no tool fixes it safely (ruff {flag} flags it; its fix is not safe here)"
    return "no tool fixes it"


def _n(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _finding(change: Change, line: int, source: str, detail: str, words: str) -> dict[str, str]:
    return {"location": f"{change.path}:{line}", "message": f"{DRIFT}{source}: {detail}; {words}"}


def _habit(
    change: Change,
    family: _Family,
    conventions: Mapping[str, Any],
    others: Sequence[Change],
) -> list[dict[str, str]]:
    """Drift of one family whose habit is the convention, else the other fixes."""
    added = _added(change, family.lines)
    if not added.net:
        return []
    convention = _value(conventions, family.name, *family.words)
    if convention is not None:
        habit = convention
        source = f"{CONVENTION_PREFIX}{family.name} (the project uses {family.words[habit]})"
    else:
        found = _from_others(others, family.lines)
        if found is None:
            return []
        habit, by = found
        source = f"the other approved fixes ({by} adds {family.words[habit]})"
    out = []
    for kind, n in sorted(added.net.items()):
        if kind == habit:
            continue
        fix = family.fixes.get((habit, kind))
        detail = f"the fix adds {family.words[kind]} ({n})"
        words = _remedy_words(fix, family.flags.get((habit, kind)))
        out.append(_finding(change, added.first[kind], source, detail, words))
    return out


def _quote_drift(
    change: Change, conventions: Mapping[str, Any], others: Sequence[Change]
) -> list[dict[str, str]]:
    added = _added(change, _quotes)
    if not added.net:
        return []
    own = _majority(sum((c for c in _quotes(change.before).values()), Counter()))
    entry = conventions.get("quotes")
    counted = isinstance(entry, dict) and (entry.get("single", 0) or entry.get("double", 0))
    configured = isinstance(entry, dict) and entry.get("source") == "the project's configuration"
    if configured and (value := _value(conventions, "quotes", "single", "double")) is not None:
        habit, source = value, f"{CONVENTION_PREFIX}quotes (the project's configuration: {value})"
    elif own is not None:
        habit, source = own, f"the file's quotes ({own})"
    elif counted and (value := _value(conventions, "quotes", "single", "double")) is not None:
        habit, source = value, f"{CONVENTION_PREFIX}quotes (the project uses {value} quotes)"
    elif (found := _from_others(others, _quotes)) is not None:
        habit, source = found[0], f"the other approved fixes ({found[1]} adds {found[0]} quotes)"
    else:
        return []
    out = []
    for kind, n in sorted(added.net.items()):
        if kind != habit:
            fix = Remedy(rule="Q000", setting=f"lint.flake8-quotes.inline-quotes = '{habit}'")
            detail = f"the fix adds {_n(n, kind + '-quoted string')}"
            out.append(
                _finding(change, added.first[kind], source, detail, _remedy_words(fix, None))
            )
    return out


def _first_party(changes: Iterable[Change]) -> frozenset[str]:
    tops = set()
    for change in changes:
        parts = change.path.split("/")
        if parts[0] == "src" and len(parts) > 2:
            parts = parts[1:]
        if len(parts) > 1:
            tops.add(parts[0])
    return frozenset(tops)


def _imports_family(first_party: frozenset[str]) -> _Family:
    return _Family(
        "imports",
        {"relative": "relative imports", "absolute": "absolute imports of its own packages"},
        _ast_lines(lambda tree: _imports(tree, first_party)),
        {},
        {("absolute", "relative"): "TID252"},
    )


def _import_conventions(conventions: Mapping[str, Any]) -> dict[str, Any]:
    """``convention.imports`` in the words of the imports family (absolute or relative)."""
    entry = conventions.get("imports")
    value = entry.get("value") if isinstance(entry, dict) else None
    kind = {"relative": "relative", "from_absolute": "absolute", "import": "absolute"}.get(
        str(value)
    )
    return {**conventions, "imports": {"value": kind}}


def _naming(change: Change, conventions: Mapping[str, Any]) -> list[dict[str, str]]:
    entry = conventions.get("naming")
    if not isinstance(entry, dict):
        return []
    added = _added(change, _ast_lines(_names))
    out = []
    for kind in sorted(added.net):
        what, name = kind.split(" ", 1)
        wanted = "snake_case" if what == "function" else "CapWords"
        if entry.get("functions" if what == "function" else "classes") != wanted:
            continue
        rule = "N802" if what == "function" else "N801"
        source = f"{CONVENTION_PREFIX}naming (the project's {what} names are {wanted})"
        detail = f"the fix adds the {what} {name}"
        out.append(
            _finding(change, added.first[kind], source, detail, f"no tool fixes it ({rule})")
        )
    return out


def _line_length(
    change: Change, conventions: Mapping[str, Any], formatted: bool
) -> list[dict[str, str]]:
    entry = conventions.get("line_length")
    width = entry.get("value") if isinstance(entry, dict) else None
    if not isinstance(width, int) or isinstance(width, bool) or width <= 0:
        return []
    added = _added(change, lambda text: _long(text, width))
    n = added.net.get("long", 0)
    if not n:
        return []
    source = f"{CONVENTION_PREFIX}line_length ({width})"
    detail = f"the fix adds {_n(n, 'line')} longer than {width} characters"
    fix = Remedy(format=True) if formatted else None
    words = _remedy_words(fix, None) if fix else "no tool fixes it safely (ruff E501 flags it)"
    return [_finding(change, added.first["long"], source, detail, words)]


def coherence(
    change: Change,
    conventions: Mapping[str, Any],
    others: Sequence[Change] = (),
    *,
    formatted: bool = False,
) -> list[dict[str, str]]:
    """Where a fix drifts from the project's conventions and the goal's other approved fixes.

    Args:
        change: The fix to judge.
        conventions: The project's conventions by name (``quotes``, ``output``, ...; a
            ``convention.`` prefix is allowed), their values as the inventory wrote them.
        others: The goal's other approved fixes (of any file).
        formatted: Whether the file followed ``ruff format`` before the fix (then a
            long line it adds is the formatter's to fix).

    Returns:
        Findings ``{"location": "path:line", "message": ...}``, none when nothing drifts.
    """
    named = {k.removeprefix(CONVENTION_PREFIX): v for k, v in conventions.items()}
    others = [o for o in others if o.name != change.name or not change.name]
    imports = _imports_family(_first_party([change, *others]))
    return [
        *_quote_drift(change, named, others),
        *_habit(change, _STRINGS, named, others),
        *_habit(change, _OUTPUT, named, others),
        *_habit(change, imports, _import_conventions(named), others),
        *_naming(change, named),
        *_line_length(change, named, formatted),
    ]
