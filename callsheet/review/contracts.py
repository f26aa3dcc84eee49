"""Interface contracts: each module's public signatures, and which other files use them.

The inventory writes one ``contract.<path>`` entry to the shared context per
module with a public interface: ``functions`` (name: the signature as written)
and ``used_by`` (name: the files that import or reach it). The conflict detector
holds a fix against it: a signature that callers rely on must not change in a
way they would notice (``patches.Signature.accepts_calls_of``).

Uses are found in one pass over the codebase's syntax trees: ``from module import
name`` (relative imports resolved against the importing file's package), and
``alias.name`` after ``import module [as alias]``. A module is known by its
dotted path from the root, and without a leading ``src.`` (the src layout).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from callsheet.review.patches import signatures_of

__all__ = ["CONTRACT_PREFIX", "contracts", "module_names"]

CONTRACT_PREFIX = "contract."
"""Context keys of the modules' interface contracts (``contract.<path>``)."""


def module_names(path: str) -> list[str]:
    """The dotted names a module at ``path`` (relative to the root) is imported by."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts:
        return []
    names = [".".join(parts)]
    if parts[0] == "src" and len(parts) > 1:
        names.append(".".join(parts[1:]))
    return names


def _package(path: str) -> list[str]:
    """The package a file belongs to, as parts (an ``__init__`` is its own package)."""
    parts = path.removesuffix(".py").split("/")
    return parts[:-1]


def _resolve(path: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``import from`` names (relative ones against ``path``)."""
    if not node.level:
        return node.module or ""
    base = _package(path)
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)] if node.level - 1 <= len(base) else []
    return ".".join([*base, *([node.module] if node.module else [])])


def _uses(path: str, tree: ast.Module) -> dict[str, set[str]]:
    """The names this file uses of each module it imports: ``{module: {name}}``."""
    used: dict[str, set[str]] = {}
    aliases: dict[str, str] = {}
    reached: list[ast.Attribute] = []  # matched once every import is known (one walk)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            reached.append(node)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(path, node)
            for alias in node.names:
                used.setdefault(module, set()).add(alias.name)
                # ``from pkg import mod``: mod.name later reaches pkg.mod's name.
                aliases[alias.asname or alias.name] = f"{module}.{alias.name}".strip(".")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name] = alias.name
    if not aliases:
        return used
    heads = {name.split(".", 1)[0] for name in aliases}
    for node in reached:
        value = node.value
        while isinstance(value, ast.Attribute):
            value = value.value
        # An owner names an alias only if it starts with one's first part: unparse no other.
        if isinstance(value, ast.Name) and value.id in heads:
            owner = ast.unparse(node.value)
            if owner in aliases:
                used.setdefault(aliases[owner], set()).add(node.attr)
    return used


def contracts(
    texts: Mapping[str, str], trees: Mapping[str, ast.Module] | None = None
) -> dict[str, dict[str, Any]]:
    """The contract of each module with a public interface, by path.

    Args:
        texts: Every Python file of the codebase (path relative to the root: its text).
        trees: Their syntax trees, when the caller parsed them already (those that parse).
    """
    if trees is None:
        trees = {}
        for path, text in texts.items():
            try:
                trees[path] = ast.parse(text)
            except (SyntaxError, ValueError, RecursionError):
                continue
    else:
        trees = {path: tree for path, tree in trees.items() if path in texts}
    uses = {path: _uses(path, tree) for path, tree in trees.items()}
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(trees):
        signatures = signatures_of(trees[path])
        if not signatures:
            continue
        names = set(module_names(path))
        tops = {name.split(".", 1)[0] for name in signatures}
        used_by: dict[str, list[str]] = {}
        for other, imported in sorted(uses.items()):
            if other == path:
                continue
            for module, used in imported.items():
                if module in names:
                    for name in sorted(used & tops):
                        used_by.setdefault(name, []).append(other)
        found[path] = {
            "functions": {name: sig.text for name, sig in sorted(signatures.items())},
            "used_by": {name: sorted(set(files)) for name, files in sorted(used_by.items())},
        }
    return found
