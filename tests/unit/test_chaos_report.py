"""The README quotes the chaos script's last committed output, figure for figure."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tools.chaos import broken, markdown

ROOT = Path(__file__).parents[2]
LATEST = ROOT / "tools" / "chaos-latest.json"


def quoted() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- chaos-latest -->\n(.*?)<!-- /chaos-latest -->", text, re.S)
    assert found, "the README has no chaos-latest section"
    return found.group(1)


def test_the_readme_quotes_the_latest_chaos_report() -> None:
    report = json.loads(LATEST.read_text())
    assert quoted() == markdown(report)
    # The Markdown file written beside it is the same table.
    assert LATEST.with_suffix(".md").read_text() == markdown(report)


def test_the_report_lists_what_it_breaks() -> None:
    report = json.loads(LATEST.read_text())
    assert report["invariants_broken"] == broken(report)
