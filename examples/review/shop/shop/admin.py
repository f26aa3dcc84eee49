"""The admin console."""

from __future__ import annotations

import subprocess


def backup(folder: str) -> int:
    """Archive the shop's data folder."""
    return subprocess.call(f"tar czf backup.tgz {folder}", shell=True)  # planted: S602


def compute(expression: str) -> object:
    """Evaluate a price expression typed by an admin."""
    return eval(expression)  # planted: S307
