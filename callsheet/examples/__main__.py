"""``python -m callsheet.examples shop``: print where an installed example is."""

from __future__ import annotations

import sys

from callsheet.examples import shop_path


def main(argv: list[str]) -> int:
    """Print the path of the example named in ``argv`` (``shop``); 2 on a bad name."""
    if argv != ["shop"]:
        print("usage: python -m callsheet.examples shop", file=sys.stderr)
        return 2
    try:
        print(shop_path())
    except FileNotFoundError as exc:
        print(f"callsheet: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
