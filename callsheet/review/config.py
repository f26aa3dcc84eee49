"""The reviewed project's own tool configuration: what its ruff, mypy, bandit and tests want.

Only the reviewed root's own files count (``pyproject.toml``, ``ruff.toml``,
``.ruff.toml``, ``setup.cfg``, ``tox.ini``, ``.flake8``, ``mypy.ini``,
``.mypy.ini``, ``pytest.ini``): a configuration above the root belongs to another
project. A file that cannot be parsed is noted and skipped, never fatal.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["ProjectConfig", "read_config"]

_TARGET_RE = re.compile(r"(\d+)\.(\d+)")


class ProjectConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """What the project configures for the tools the review runs.

    Attributes:
        ruff_config: The file holding its ruff configuration (relative), if any.
        ruff_ignore: Rules its ruff configuration ignores (kept when a perspective selects).
        line_length: Line length it uses (ruff, black or flake8), if it says.
        target_version: Oldest Python it supports, as ruff names it (``py311``).
        max_complexity: Its complexity limit (ruff's mccabe or flake8's), if it says.
        quote_style: The quote its ruff configuration asks for (``single`` or ``double``:
            the formatter's ``quote-style``, else flake8-quotes' ``inline-quotes``), if any.
        mypy_config: The file holding its mypy configuration, if any.
        mypy_exclude: The regular expressions of files its mypy configuration leaves out.
        bandit_config: The file holding its bandit configuration, if any.
        pytest_config: The file holding its pytest configuration, if any.
        sources: Which file said what, for the report.
        errors: Configuration files that could not be read, with the reason.
    """

    ruff_config: str | None = None
    ruff_ignore: list[str] = []
    line_length: int | None = None
    target_version: str | None = None
    max_complexity: int | None = None
    quote_style: str | None = None
    mypy_config: str | None = None
    mypy_exclude: list[str] = []
    bandit_config: str | None = None
    pytest_config: str | None = None
    sources: list[str] = []
    errors: list[str] = []


def _toml(path: Path, errors: list[str]) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        errors.append(f"{path.name}: {exc}")
        return {}


def _ini(path: Path, errors: list[str]) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text("utf-8"), source=path.name)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        errors.append(f"{path.name}: {exc}".splitlines()[0])
        return configparser.ConfigParser(interpolation=None)
    return parser


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 10_000 else None


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if isinstance(v, str) and re.fullmatch(r"[A-Z]+[0-9]*", v)]


def _patterns(value: Any) -> list[str]:
    """Mypy's ``exclude``: one regular expression or a list, kept when they compile."""
    found = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    kept = []
    for pattern in found:
        if not isinstance(pattern, str) or not pattern.strip():
            continue
        try:
            re.compile(pattern, re.VERBOSE if "\n" in pattern else 0)
        except re.error:
            continue
        kept.append(pattern)
    return kept


def _target(requires: Any) -> str | None:
    if not isinstance(requires, str):
        return None
    match = _TARGET_RE.search(requires)
    return f"py{match.group(1)}{match.group(2)}" if match else None


def _ruff(
    root: Path, pyproject: dict[str, Any], errors: list[str]
) -> tuple[str | None, dict[str, Any]]:
    """The ruff settings and the file they come from (ruff.toml wins, as ruff decides)."""
    for name in ("ruff.toml", ".ruff.toml"):
        path = root / name
        if path.is_file():
            return name, _toml(path, errors)
    tool = pyproject.get("tool", {})
    if isinstance(tool, dict) and isinstance(tool.get("ruff"), dict):
        return "pyproject.toml", tool["ruff"]
    return None, {}


def _quote_style(ruff: dict[str, Any], lint: dict[str, Any]) -> str | None:
    """The quote ruff's formatter or flake8-quotes is configured for (``preserve``: none)."""
    formatter = ruff.get("format", {})
    quotes = lint.get("flake8-quotes", ruff.get("flake8-quotes", {}))
    for said in (
        formatter.get("quote-style") if isinstance(formatter, dict) else None,
        quotes.get("inline-quotes") if isinstance(quotes, dict) else None,
    ):
        if said in ("single", "double"):
            return str(said)
    return None


def read_config(root: Path) -> ProjectConfig:
    """Read the project's tool configuration from the files in ``root``."""
    errors: list[str] = []
    sources: list[str] = []
    pyproject_path = root / "pyproject.toml"
    pyproject = _toml(pyproject_path, errors) if pyproject_path.is_file() else {}
    tool = pyproject.get("tool", {}) if isinstance(pyproject.get("tool"), dict) else {}
    ruff_file, ruff = _ruff(root, pyproject, errors)
    lint = ruff.get("lint", {}) if isinstance(ruff.get("lint"), dict) else {}
    ignore = _names(lint.get("ignore", ruff.get("ignore"))) + _names(
        lint.get("extend-ignore", ruff.get("extend-ignore"))
    )
    line_length = _int(ruff.get("line-length"))
    target = ruff.get("target-version") if isinstance(ruff.get("target-version"), str) else None
    mccabe = lint.get("mccabe", ruff.get("mccabe", {}))
    complexity = _int(mccabe.get("max-complexity")) if isinstance(mccabe, dict) else None
    if ruff_file:
        sources.append(f"ruff: {ruff_file}")
    black = tool.get("black", {})
    if line_length is None and isinstance(black, dict) and _int(black.get("line-length")):
        line_length = _int(black.get("line-length"))
        sources.append("line length: [tool.black] in pyproject.toml")
    if target is None:
        project = pyproject.get("project", {})
        target = _target(project.get("requires-python") if isinstance(project, dict) else None)
    mypy = tool.get("mypy")
    mypy_config = "pyproject.toml" if isinstance(mypy, dict) else None
    mypy_exclude = _patterns(mypy.get("exclude") if isinstance(mypy, dict) else None)
    bandit_config = "pyproject.toml" if isinstance(tool.get("bandit"), dict) else None
    ini = tool.get("pytest", {})
    pytest_config = "pyproject.toml" if isinstance(ini, dict) and "ini_options" in ini else None
    for name in ("setup.cfg", "tox.ini", ".flake8", "mypy.ini", ".mypy.ini", "pytest.ini"):
        path = root / name
        if not path.is_file():
            continue
        parser = _ini(path, errors)
        for section in ("flake8", "pycodestyle"):
            if parser.has_section(section):
                if line_length is None:
                    line_length = _int(parser.get(section, "max-line-length", fallback=None))
                    if line_length is not None:
                        sources.append(f"line length: [{section}] in {name}")
                if complexity is None:
                    complexity = _int(parser.get(section, "max-complexity", fallback=None))
        if mypy_config is None and parser.has_section("mypy"):
            mypy_config = name
            # In an INI file, exclude is one regular expression (often a verbose one).
            mypy_exclude = _patterns(parser.get("mypy", "exclude", fallback=None))
        if pytest_config is None and (
            parser.has_section("tool:pytest")
            or (name == "pytest.ini" and parser.has_section("pytest"))
        ):
            pytest_config = name
    for label, found in (
        ("mypy", mypy_config),
        ("bandit", bandit_config),
        ("pytest", pytest_config),
    ):
        if found:
            sources.append(f"{label}: {found}")
    return ProjectConfig(
        ruff_config=ruff_file,
        ruff_ignore=sorted(set(ignore)),
        line_length=line_length,
        target_version=target,
        max_complexity=complexity,
        quote_style=_quote_style(ruff, lint),
        mypy_config=mypy_config,
        mypy_exclude=mypy_exclude,
        bandit_config=bandit_config,
        pytest_config=pytest_config,
        sources=sources,
        errors=errors,
    )
