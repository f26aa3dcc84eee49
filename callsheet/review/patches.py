"""Patches: unified diffs that ``git apply`` takes, three-way merges, and public signatures.

Pure functions over file texts. A fix is held as the file's text before and after
(so that anyone can merge or re-check it from the log alone); its diff is made
with ``difflib`` in the format ``git apply`` reads (``a/`` and ``b/`` prefixes,
the "no newline at end of file" marker). Two fixes of one file are merged with
``merge3`` (a three-way merge against the text both started from): independent
hunks merge, overlapping ones are a conflict.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass

import merge3

__all__ = [
    "Merged",
    "Signature",
    "changed_signatures",
    "merge",
    "public_signatures",
    "signatures_of",
    "unified",
]

_NO_NEWLINE = "\\ No newline at end of file\n"


def unified(path: str, before: str, after: str) -> str:
    """The unified diff of one file, relative to the reviewed root (empty: no change)."""
    if before == after:
        return ""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n" + _NO_NEWLINE)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Merged:
    """A three-way merge.

    Attributes:
        text: The merged text, or None when the changes overlap.
        conflicts: Line ranges of the base (1-based, inclusive) where they do.
    """

    text: str | None
    conflicts: tuple[tuple[int, int], ...] = ()


def merge(base: str, ours: str, theirs: str) -> Merged:
    """Merge two changes of ``base``: independent hunks both apply; overlapping ones conflict."""
    m = merge3.Merge3(
        base.splitlines(keepends=True),
        ours.splitlines(keepends=True),
        theirs.splitlines(keepends=True),
    )
    conflicts = tuple(
        (region[1] + 1, max(region[1] + 1, region[2]))
        for region in m.merge_regions()
        if region[0] == "conflict"
    )
    if conflicts:
        return Merged(None, conflicts)
    return Merged("".join(m.merge_lines()))


@dataclass(frozen=True, slots=True)
class Signature:
    """A public function's or class's signature, as the code writes it, and its parameters.

    Attributes:
        name: ``f``, ``Class`` or ``Class.method``.
        text: The signature as written (``def f(a, b=None) -> int``).
        line: Where it is defined.
        positional: Positional parameters, in order.
        keyword: Keyword-only parameters.
        required: How many positional parameters have no default.
        required_keyword: Keyword-only parameters without a default.
        star: Whether it takes ``*args`` and ``**kwargs``.
    """

    name: str
    text: str
    line: int
    positional: tuple[str, ...] = ()
    keyword: tuple[str, ...] = ()
    required: int = 0
    required_keyword: tuple[str, ...] = ()
    star: tuple[bool, bool] = (False, False)

    def accepts_calls_of(self, before: Signature) -> bool:
        """Whether every call that worked with ``before`` works with this one.

        Its positional parameters start with the old ones, in order (any added after
        them has a default); the old keyword-only ones are kept and none is newly
        required; ``*args`` and ``**kwargs`` are kept; defaults and annotations may
        change. A class keeps its bases.
        """
        if self.text.startswith("class ") or before.text.startswith("class "):
            return self.text == before.text
        old = len(before.positional)
        return (
            self.positional[:old] == before.positional
            and self.required <= before.required
            and set(before.keyword) <= set(self.keyword)
            and set(self.required_keyword) <= set(before.required_keyword)
            and (self.star[0] or not before.star[0])
            and (self.star[1] or not before.star[1])
        )


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str = "") -> Signature:
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    keyword = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    name = f"{prefix}{node.name}"
    a = node.args
    positional = tuple(x.arg for x in [*a.posonlyargs, *a.args])
    return Signature(
        name,
        f"{keyword} {name}({ast.unparse(a)}){returns}",
        node.lineno,
        positional=positional,
        keyword=tuple(x.arg for x in a.kwonlyargs),
        required=len(positional) - len(a.defaults),
        required_keyword=tuple(
            x.arg for x, default in zip(a.kwonlyargs, a.kw_defaults, strict=True) if default is None
        ),
        star=(a.vararg is not None, a.kwarg is not None),
    )


def public_signatures(text: str) -> dict[str, Signature]:
    """The module's public interface: its functions, classes and their methods (no ``_name``).

    A file Python cannot parse has none.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return {}
    return signatures_of(tree)


def signatures_of(tree: ast.Module) -> dict[str, Signature]:
    """``public_signatures`` of a module already parsed."""
    found: dict[str, Signature] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if not node.name.startswith("_"):
                found[node.name] = _signature(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            found[node.name] = Signature(node.name, f"class {node.name}({bases})", node.lineno)
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and (
                    not item.name.startswith("_") or item.name == "__init__"
                ):
                    sig = _signature(item, f"{node.name}.")
                    found[sig.name] = sig
    return found


def changed_signatures(before: str, after: str) -> list[tuple[Signature, Signature | None]]:
    """Public signatures a change alters or removes: ``(before, after or None)``."""
    old, new = public_signatures(before), public_signatures(after)
    changed = []
    for name, sig in sorted(old.items()):
        now = new.get(name)
        if now is None or now.text != sig.text:
            changed.append((sig, now))
    return changed
