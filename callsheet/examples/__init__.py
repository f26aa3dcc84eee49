"""Examples the README runs, installed with the package.

``callsheet.examples.redrive``: agents changed on purpose, to re-drive on a goal the
crew ran (``callsheet demo`` prints the commands). ``shop_path()``: the small shop
with problems planted on purpose that ``callsheet review`` reviews::

    callsheet review "$(python -m callsheet.examples shop)"

The coordination crews and the ``eventsourcing`` application live in the source
repository's ``examples/`` folder.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["shop_path"]

_HERE = Path(__file__).resolve().parent


def shop_path() -> Path:
    """The folder of the review example (a small Python project with planted problems).

    In an installed wheel it is shipped in the package (``callsheet/examples/review/shop``,
    copied there when the wheel is built); in a source checkout, and so in an editable
    install, it is the repository's ``examples/review/shop``.

    Raises:
        FileNotFoundError: Neither is there (a package built without it).
    """
    for folder in (_HERE / "review" / "shop", _HERE.parents[1] / "examples" / "review" / "shop"):
        if (folder / "pyproject.toml").is_file():
            return folder
    raise FileNotFoundError(
        "the review example is not installed: this package was built without "
        "examples/review/shop (build it from a checkout or from the sdist)"
    )
