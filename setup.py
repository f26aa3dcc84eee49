"""Build hook: the wheel ships the review example, which stays where the repository keeps it.

``examples/review/shop`` is copied into the built package as
``callsheet/examples/review/shop`` (``callsheet.examples.shop_path`` finds it there);
``MANIFEST.in`` puts it in the sdist, so a wheel built from the sdist has it too.
An editable install needs no copy: ``shop_path`` finds the checkout's folder.
Everything else about the package is in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

EXAMPLE = Path(__file__).resolve().parent / "examples" / "review" / "shop"
SHIPPED = ("callsheet", "examples", "review", "shop")
CACHES = ("__pycache__", "*.py[cod]", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".coverage*")


class BuildWithExamples(build_py):
    """``build_py``, then the review example copied into the built package."""

    def run(self) -> None:
        """Build the modules, then copy the example beside them."""
        super().run()
        if getattr(self, "editable_mode", False) or not EXAMPLE.is_dir():
            return
        target = Path(self.build_lib, *SHIPPED)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(*CACHES))


setup(cmdclass={"build_py": BuildWithExamples})
