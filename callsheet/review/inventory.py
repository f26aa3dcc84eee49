"""The inventory of a codebase: its Python files, their size, what parses, tests, configuration.

``scan`` reads the tree and never writes to it. Directory symlinks are not
followed (no loops); symlinked files, binary or undecodable files, files over the
size limits and unreadable ones are listed as skipped with the reason, as are
folders left out on purpose (version control, environments, caches, build output).
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import tokenize
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import msgspec

from callsheet.review.config import ProjectConfig, read_config

__all__ = [
    "IGNORED_DIRS",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_FILE_LINES",
    "Inventory",
    "InventoryError",
    "Skipped",
    "SourceFile",
    "decode_source",
    "is_test_path",
    "line_digest",
    "scan",
]

MAX_FILE_BYTES = 2 * 1024 * 1024
"""Python files larger than this are not analysed (generated code, data in disguise)."""
MAX_FILE_LINES = 50_000
"""Python files longer than this are not analysed."""
MAX_FILES = 20_000
"""Python files analysed at most; the rest are listed as skipped."""
IGNORED_DIRS = frozenset(
    {
        "__pycache__",
        "node_modules",
        "venv",
        "env",
        "build",
        "dist",
        "site-packages",
        "htmlcov",
    }
)
"""Folder names never reviewed (besides hidden folders and ``*.egg-info``)."""


class InventoryError(Exception):
    """The path cannot be reviewed at all (missing, not a folder or a Python file)."""


class SourceFile(msgspec.Struct, frozen=True, kw_only=True):
    """One Python file of the codebase.

    Attributes:
        path: Relative to the root, POSIX style.
        lines: Number of lines.
        size: Size in bytes.
        sha256: Digest of the content.
        test: Whether it is test code (a test folder, ``test_*.py``, ``conftest.py``).
        parses: Whether Python parses it.
        error: The syntax error, if it does not parse.
        error_line: Line of the syntax error.
        error_column: Column of the syntax error.
        error_text: Text of the line with the syntax error.
        functions: Functions and methods defined.
        annotated: Of those, the fully annotated ones (arguments and return).
    """

    path: str
    lines: int
    size: int
    sha256: str
    test: bool = False
    parses: bool = True
    error: str | None = None
    error_line: int | None = None
    error_column: int | None = None
    error_text: str = ""
    functions: int = 0
    annotated: int = 0


class Skipped(msgspec.Struct, frozen=True, kw_only=True):
    """A file or folder left out, and why."""

    path: str
    reason: str


class Inventory(msgspec.Struct, frozen=True, kw_only=True):
    """What ``scan`` found.

    Attributes:
        root: The reviewed folder (absolute).
        files: Python files to analyse, sorted by path.
        skipped: Files and folders left out, with the reason.
        config: The project's own tool configuration.
        other_files: Files that are not Python (not analysed).
        packages: Top-level packages (folders with ``__init__.py``).
        test_dirs: Top-level test folders.
        target: The one file asked for, when the path given was a file.
    """

    root: str
    files: list[SourceFile]
    skipped: list[Skipped] = []
    config: ProjectConfig = msgspec.field(default_factory=ProjectConfig)
    other_files: int = 0
    packages: list[str] = []
    test_dirs: list[str] = []
    target: str | None = None

    @property
    def lines(self) -> int:
        """Lines of the files to analyse."""
        return sum(f.lines for f in self.files)

    @property
    def typed(self) -> bool:
        """Whether the project is typed: it configures mypy, ships ``py.typed`` or annotates."""
        if self.config.mypy_config is not None:
            return True
        code = [f for f in self.files if not f.test]
        functions = sum(f.functions for f in code)
        return functions > 0 and sum(f.annotated for f in code) >= 0.6 * functions

    @property
    def has_tests(self) -> bool:
        """Whether the project has test files."""
        return any(f.test and PurePosixPath(f.path).name != "conftest.py" for f in self.files)


def line_digest(text: str) -> str:
    """``sha256:<hex>`` of one line's text (without its line ending)."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def is_test_path(path: str) -> bool:
    """Whether a relative path is test code by the usual conventions."""
    parts = PurePosixPath(path).parts
    name = parts[-1]
    in_tests = any(p in ("tests", "test", "testing") for p in parts[:-1])
    return (
        in_tests or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
    )


def _annotated(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    params = [a for a in every if a.arg not in ("self", "cls")]
    return node.returns is not None and all(a.annotation is not None for a in params)


def decode_source(raw: bytes) -> str:
    """The text of a Python file in its declared encoding (PEP 263), or ValueError."""
    if b"\x00" in raw[:8192]:
        raise ValueError("binary content (NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        return raw.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        raise ValueError(f"not text in its declared encoding ({exc})") from None


def _source(root: Path, rel: str) -> SourceFile | Skipped:
    path = root / rel
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return Skipped(path=rel, reason=f"{size} bytes, over the limit of {MAX_FILE_BYTES}")
        raw = path.read_bytes()
    except OSError as exc:
        return Skipped(path=rel, reason=f"cannot be read: {exc.strerror or exc}")
    try:
        text = decode_source(raw)
    except ValueError as exc:
        return Skipped(path=rel, reason=str(exc))
    lines = text.splitlines()
    if len(lines) > MAX_FILE_LINES:
        return Skipped(path=rel, reason=f"{len(lines)} lines, over the limit of {MAX_FILE_LINES}")
    common = SourceFile(
        path=rel,
        lines=len(lines),
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        test=is_test_path(rel),
    )
    try:
        tree = ast.parse(text, filename=rel)
    except SyntaxError as exc:
        line = exc.lineno or 1
        return msgspec.structs.replace(
            common,
            parses=False,
            error=f"{type(exc).__name__}: {exc.msg}",
            error_line=max(1, min(line, len(lines) or 1)),
            error_column=exc.offset if exc.offset and exc.offset > 0 else None,
            error_text=lines[line - 1] if 0 < line <= len(lines) else "",
        )
    except (ValueError, RecursionError, MemoryError) as exc:
        return Skipped(path=rel, reason=f"Python cannot parse it ({type(exc).__name__})")
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return msgspec.structs.replace(
        common,
        functions=len(functions),
        annotated=sum(1 for f in functions if _annotated(f)),
    )


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_DIRS or name.endswith(".egg-info")


def _walk(root: Path, skipped: list[Skipped]) -> Iterator[str]:
    """Relative paths of the regular files under ``root``, sorted; symlinks never followed."""

    def fail(exc: OSError) -> None:
        where = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "."
        skipped.append(Skipped(path=where, reason=f"cannot be listed: {exc.strerror or exc}"))

    for top, dirs, files in os.walk(root, onerror=fail, followlinks=False):
        base = Path(top)
        kept = []
        for name in sorted(dirs):
            rel = (base / name).relative_to(root).as_posix()
            if (base / name).is_symlink():
                skipped.append(Skipped(path=rel, reason="symbolic link to a folder (not followed)"))
            elif _ignored(name):
                skipped.append(Skipped(path=rel, reason="left out (hidden, environment or cache)"))
            else:
                kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            yield (base / name).relative_to(root).as_posix()


def scan(path: Path) -> Inventory:
    """Take the inventory of a folder, or of one Python file (its folder is the root).

    Raises:
        InventoryError: The path does not exist, or is a file that is not Python.
    """
    try:
        target_path = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise InventoryError(f"{path} does not exist or cannot be resolved ({exc})") from None
    skipped: list[Skipped] = []
    if target_path.is_file():
        if target_path.suffix != ".py":
            raise InventoryError(f"{path} is not a Python file (.py) or a folder")
        root, names, target = target_path.parent, [target_path.name], target_path.name
    elif target_path.is_dir():
        root, target = target_path, None
        names = list(_walk(root, skipped))
    else:
        raise InventoryError(f"{path} is neither a folder nor a regular file")
    files: list[SourceFile] = []
    other = 0
    for rel in names:
        full = root / rel
        if not rel.endswith(".py"):
            other += 1
            continue
        if full.is_symlink():
            skipped.append(Skipped(path=rel, reason="symbolic link (not followed)"))
            continue
        if len(files) >= MAX_FILES:
            skipped.append(Skipped(path=rel, reason=f"over the limit of {MAX_FILES} files"))
            continue
        found = _source(root, rel)
        if isinstance(found, Skipped):
            skipped.append(found)
        else:
            files.append(found)
    tops = {PurePosixPath(f.path).parts[0] for f in files if len(PurePosixPath(f.path).parts) > 1}
    packages = sorted(t for t in tops if (root / t / "__init__.py").is_file())
    tests = sorted(t for t in tops if t in ("tests", "test", "testing"))
    return Inventory(
        root=str(root),
        files=files,
        skipped=skipped,
        config=read_config(root),
        other_files=other,
        packages=packages,
        test_dirs=tests,
        target=target,
    )
