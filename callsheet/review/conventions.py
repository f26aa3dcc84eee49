"""The project's conventions, discovered from its configuration and its code.

What the inventory writes to the shared context (``convention.<name>`` entries),
so that fixers, reviewers and the coherence check hold every fix to the
project's own habits rather than to a default:

- ``line_length``: what the project's ruff, black or flake8 configuration says,
  else 88 (their default) or, if wider, the width 99 % of the code's lines fit in;
- ``quotes``: the quote its ruff configuration asks for, else the one most of
  its one-line string literals use;
- ``naming``: how many functions are snake_case and classes CapWords;
- ``target_python``: the oldest Python it supports (configuration, else unknown);
- ``imports``: absolute or relative imports, ``import x`` or ``from x import y``;
- ``output``: ``logging`` or ``print`` in its code outside the tests;
- ``strings``: how its code outside the tests formats strings: f-strings,
  ``str.format`` or ``%``.

Pure functions over the files' texts.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from callsheet.review.config import ProjectConfig

__all__ = ["CONVENTION_PREFIX", "conventions", "parse_all"]

CONVENTION_PREFIX = "convention."
"""Context keys of the project's conventions."""

_SNAKE = re.compile(r"^_*[a-z][a-z0-9_]*$")
_CAPWORDS = re.compile(r"^_*[A-Z][A-Za-z0-9]*$")
_PREFIXES = re.compile(r"^[rRbBuUfF]{0,2}")


def _quotes(texts: Iterable[str]) -> Counter[str]:
    """One-line string literals by the quote they use (those holding a quote are free)."""
    found: Counter[str] = Counter()
    for text in texts:
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            continue
        for token in tokens:
            if token.type != tokenize.STRING:
                continue
            body = _PREFIXES.sub("", token.string)
            if body.startswith(('"""', "'''")):
                continue  # docstrings are double-quoted by nearly everyone
            quote, inner = body[:1], body[1:-1]
            if quote in "\"'" and "'" not in inner and '"' not in inner:
                found["double" if quote == '"' else "single"] += 1
    return found


def _line_length(texts: Iterable[str]) -> int:
    lengths = sorted(len(line) for text in texts for line in text.splitlines() if line.strip())
    if not lengths:
        return 88
    return lengths[min(len(lengths) - 1, int(len(lengths) * 0.99))]


_LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})


def _tally(trees: Mapping[str, ast.Module], tests: set[str]) -> dict[str, Counter[str]]:
    """Names and imports of every file, output and string formatting of the code, one walk each."""
    names: Counter[str] = Counter()
    imports: Counter[str] = Counter()
    output: Counter[str] = Counter()
    strings: Counter[str] = Counter()
    for path, tree in trees.items():
        code = path not in tests
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if not (node.name.startswith("__") and node.name.endswith("__")):
                    names["snake_case" if _SNAKE.match(node.name) else "other_functions"] += 1
            elif isinstance(node, ast.ClassDef):
                names["CapWords" if _CAPWORDS.match(node.name) else "other_classes"] += 1
            elif isinstance(node, ast.ImportFrom):
                imports["relative" if node.level else "from_absolute"] += 1
            elif isinstance(node, ast.Import):
                imports["import"] += 1
            elif not code:
                continue
            elif isinstance(node, ast.Call):
                _call(node, output, strings)
            elif isinstance(node, ast.JoinedStr):
                if any(isinstance(v, ast.FormattedValue) for v in node.values):
                    strings["f-string"] += 1
            elif (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Mod)
                and isinstance(node.left, ast.Constant)
                and isinstance(node.left.value, str)
            ):
                strings["percent"] += 1
    return {"names": names, "imports": imports, "output": output, "strings": strings}


def _call(node: ast.Call, output: Counter[str], strings: Counter[str]) -> None:
    """A call's share: ``print``, a logger's method, or ``"...".format``."""
    func = node.func
    if isinstance(func, ast.Name) and func.id == "print":
        output["print"] += 1
    elif isinstance(func, ast.Attribute):
        if func.attr in _LOG_METHODS and "log" in ast.unparse(func.value).lower():
            output["logging"] += 1
        elif (
            func.attr == "format"
            and isinstance(func.value, ast.Constant)
            and isinstance(func.value.value, str)
        ):
            strings["format"] += 1


def parse_all(texts: Mapping[str, str]) -> dict[str, ast.Module]:
    """The syntax tree of each text that parses, by path."""
    trees: dict[str, ast.Module] = {}
    for path, text in texts.items():
        try:
            trees[path] = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            continue
    return trees


def _most(counts: Mapping[str, int], *names: str) -> str | None:
    present = [(counts.get(n, 0), n) for n in names]
    best = max(present)
    return best[1] if best[0] > 0 else None


def conventions(
    texts: Mapping[str, str],
    tests: Iterable[str],
    config: ProjectConfig,
    trees: Mapping[str, ast.Module] | None = None,
) -> dict[str, dict[str, Any]]:
    """The conventions (``{name: value}``) of a codebase (path: text), tests named apart.

    ``trees``: the texts' syntax trees when the caller parsed them already (``parse_all``).
    """
    tally = _tally(parse_all(texts) if trees is None else trees, set(tests))
    quotes = _quotes(texts.values())
    names, imports = tally["names"], tally["imports"]
    output, strings = tally["output"], tally["strings"]
    configured = config.line_length
    measured = _line_length(texts.values())
    return {
        "line_length": {
            # Without a configuration the formatters' 88 holds, unless the code is wider.
            "value": configured or max(88, measured),
            "measured": measured,
            "source": "the project's configuration"
            if configured
            else "ruff's and black's default, or the width 99% of the code's lines fit in",
        },
        "quotes": {
            "value": config.quote_style or _most(quotes, "double", "single") or "double",
            "double": quotes["double"],
            "single": quotes["single"],
            "source": "the project's configuration" if config.quote_style else "its code",
        },
        "naming": {
            "functions": "snake_case"
            if names["snake_case"] >= names["other_functions"]
            else "mixed",
            "classes": "CapWords" if names["CapWords"] >= names["other_classes"] else "mixed",
            **{k: names[k] for k in ("snake_case", "other_functions", "CapWords", "other_classes")},
        },
        "target_python": {
            "value": config.target_version or "unknown",
            "source": "the project's configuration" if config.target_version else "not said",
        },
        "imports": {
            "value": _most(imports, "from_absolute", "relative", "import") or "none",
            **{k: imports[k] for k in ("from_absolute", "relative", "import")},
        },
        "output": {
            "value": _most(output, "logging", "print") or "none",
            "logging": output["logging"],
            "print": output["print"],
        },
        "strings": {
            "value": _most(strings, "f-string", "format", "percent") or "none",
            **{k: strings[k] for k in ("f-string", "format", "percent")},
        },
    }
