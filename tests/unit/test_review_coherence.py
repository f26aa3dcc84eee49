"""Coherence of a fix with the project's conventions and the other approved fixes (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callsheet.review.coherence import Change, Remedy, coherence, is_drift, remedy
from callsheet.review.config import ProjectConfig, read_config
from callsheet.review.conventions import conventions

CONVENTIONS: dict[str, Any] = {
    "line_length": {"value": 60, "measured": 50},
    "quotes": {"value": "single", "single": 12, "double": 1},
    "naming": {"functions": "snake_case", "classes": "CapWords"},
    "imports": {"value": "from_absolute", "from_absolute": 4, "relative": 0, "import": 1},
    "output": {"value": "logging", "logging": 3, "print": 0},
    "strings": {"value": "f-string", "f-string": 5, "format": 0, "percent": 0},
}
"""A project that writes single quotes, logs, imports absolutely and uses f-strings."""

BEFORE = """import logging

log = logging.getLogger(__name__)


def total(items):
    return sum(items)
"""


def change(after: str, before: str = BEFORE, path: str = "pkg/a.py", name: str = "p1") -> Change:
    return Change(path, before, after, name)


def messages(found: list[dict[str, str]]) -> list[str]:
    return [f["message"] for f in found]


def test_a_fix_that_follows_every_convention_drifts_from_none() -> None:
    after = BEFORE.replace(
        "    return sum(items)\n",
        "    log.info(f'{len(items)} items')\n    return sum(items)\n",
    )
    assert coherence(change(after), CONVENTIONS) == []
    assert coherence(change(BEFORE), CONVENTIONS) == []  # no change at all
    assert coherence(change(after), {}) == []  # nothing known, nothing to drift from


def test_double_quotes_in_a_single_quote_project_name_q000_with_its_setting() -> None:
    before = '"""Doc."""\n\n\ndef f():\n    return dict(a=1)\n'
    after = '"""Doc."""\n\n\ndef f():\n    return {"a": 1}\n'
    (found,) = coherence(change(after, before), CONVENTIONS)
    assert found["location"] == "pkg/a.py:5"
    assert found["message"].startswith("drift from convention.quotes")
    assert "1 double-quoted string" in found["message"]
    assert remedy(found["message"]) == Remedy(
        rule="Q000", setting="lint.flake8-quotes.inline-quotes = 'single'"
    )


def test_a_file_with_its_own_quote_habit_is_held_to_it() -> None:
    before = 'x = "a"\ny = "b"\n'
    after = 'x = "a"\ny = "b"\nz = "c"\n'
    assert coherence(change(after, before), CONVENTIONS) == []  # the file is double-quoted
    (found,) = coherence(change("x = 'a'\ny = \"b\"\nz = 'c'\n", before), CONVENTIONS)
    assert "the file's quotes (double)" in found["message"]
    assert "lint.flake8-quotes.inline-quotes = 'double'" in found["message"]


def test_only_what_a_fix_adds_beyond_what_it_removes_counts() -> None:
    before = 'def f():\n    return str("a")\n'
    after = 'def f():\n    return "a"\n'  # the double-quoted string was there already
    assert coherence(change(after, before), CONVENTIONS) == []


def test_str_format_in_an_f_string_project_names_up032() -> None:
    after = BEFORE.replace("    return sum(items)", "    return 'total {}'.format(sum(items))")
    (found,) = coherence(change(after), CONVENTIONS)
    assert found["location"] == "pkg/a.py:7"
    assert "convention.strings (the project uses f-strings)" in found["message"]
    assert remedy(found["message"]) == Remedy(rule="UP032")


def test_percent_formatting_has_no_safe_tool_fix() -> None:
    after = BEFORE.replace("    return sum(items)", "    return 'total %s' % sum(items)")
    (found,) = coherence(change(after), CONVENTIONS)
    assert "UP031 flags it" in found["message"] and remedy(found["message"]) is None


def test_print_in_a_project_that_logs_is_drift_no_tool_fixes() -> None:
    after = BEFORE.replace("    return sum(items)", "    print(items)\n    return sum(items)")
    (found,) = coherence(change(after), CONVENTIONS)
    assert found["message"].startswith("drift from convention.output (the project uses logging)")
    assert "T201" in found["message"] and remedy(found["message"]) is None
    printing = {**CONVENTIONS, "output": {"value": "print", "logging": 0, "print": 4}}
    assert coherence(change(after), printing) == []


def test_without_a_convention_the_other_approved_fixes_set_the_habit() -> None:
    silent = {
        **CONVENTIONS,
        "strings": {"value": "none"},
        "output": {"value": "none"},
    }
    other = change("x = 1\nlog.info(f'{x}')\n", "x = 1\n", path="pkg/b.py", name="fix-style-r1-b")
    mine = change("y = 2\nprint('{}'.format(y))\n", "y = 2\n")
    found = messages(coherence(mine, silent, [other]))
    assert len(found) == 2
    assert all("the other approved fixes (fix-style-r1-b adds" in m for m in found)
    assert any("f-strings" in m and "UP032" in m for m in found)
    assert any("logging" in m and "print()" in m for m in found)
    assert coherence(mine, silent, []) == []  # alone, it sets the habit
    same = change("y = 2\nlog.info(f'{y}')\n", "y = 2\n")
    assert coherence(same, silent, [other]) == []


def test_a_fix_is_not_compared_with_itself() -> None:
    silent = {"output": {"value": "none"}}
    mine = change("x = 1\nprint(x)\n", "x = 1\n", name="p1")
    earlier = change("x = 1\nlog.info(x)\n", "x = 1\n", name="p1")
    assert coherence(mine, silent, [earlier]) == []


def test_relative_imports_in_an_absolute_project_and_the_other_way_round() -> None:
    after = "from . import b\n" + BEFORE
    (found,) = coherence(change(after), CONVENTIONS)
    assert "convention.imports" in found["message"] and "TID252" in found["message"]
    assert found["location"] == "pkg/a.py:1" and remedy(found["message"]) is None
    relative = {**CONVENTIONS, "imports": {"value": "relative"}}
    (found,) = coherence(change("from pkg.b import c\n" + BEFORE), relative)
    assert "absolute imports of its own packages" in found["message"]
    stdlib = "from __future__ import annotations\nimport os\n" + BEFORE
    assert coherence(change(stdlib), relative) == []


def test_a_name_against_the_naming_convention_is_drift() -> None:
    after = BEFORE + "\n\ndef doIt():\n    return 1\n\n\nclass my_thing:\n    pass\n"
    found = messages(coherence(change(after), CONVENTIONS))
    assert any("the function doIt" in m and "N802" in m for m in found)
    assert any("the class my_thing" in m and "N801" in m for m in found)
    mixed = {**CONVENTIONS, "naming": {"functions": "mixed", "classes": "mixed"}}
    assert coherence(change(after), mixed) == []


def test_a_long_line_is_the_formatters_to_fix_only_where_the_file_followed_it() -> None:
    long_line = "    return sum(items) + sum(items) + sum(items) + sum(items) + 1"
    after = BEFORE.replace("    return sum(items)", long_line)
    (found,) = coherence(change(after), CONVENTIONS)
    assert "convention.line_length (60)" in found["message"] and "E501" in found["message"]
    assert remedy(found["message"]) is None
    (found,) = coherence(change(after), CONVENTIONS, formatted=True)
    assert remedy(found["message"]) == Remedy(format=True)
    moved = change(BEFORE.replace("import logging\n", "import logging\n\n"), after)
    assert coherence(moved, CONVENTIONS) == []  # the long line was there already


def test_conventions_may_be_named_with_their_context_prefix() -> None:
    after = BEFORE.replace("    return sum(items)", "    print(items)\n    return sum(items)")
    prefixed = {f"convention.{k}": v for k, v in CONVENTIONS.items()}
    assert messages(coherence(change(after), prefixed)) == messages(
        coherence(change(after), CONVENTIONS)
    )


@pytest.mark.parametrize("after", ["def f(:\n", "x = '\n", "\x00"])
def test_text_that_does_not_parse_brings_no_finding_and_no_error(after: str) -> None:
    assert coherence(change(after), CONVENTIONS) == []


def test_remedy_reads_only_coherence_findings() -> None:
    assert remedy("the fix brings UP032: Use f-string") is None
    assert not is_drift("the patch fixes none of E711")
    words = "drift from convention.strings (x): the fix adds str.format (1); ruff UP032 fixes it"
    assert is_drift(words) and remedy(words) == Remedy(rule="UP032")
    assert remedy("drift from x: y; no tool fixes it") is None


def test_the_inventory_measures_how_the_code_formats_strings() -> None:
    texts = {
        "app/a.py": "x = 1\ny = f'{x}'\nz = f'{y}!'\nw = '{}'.format(x)\n",
        "tests/test_a.py": "print('%s' % 1)\nprint('%s' % 2)\nprint('%s' % 3)\n",
    }
    found = conventions(texts, ["tests/test_a.py"], ProjectConfig())
    assert found["strings"] == {"value": "f-string", "f-string": 2, "format": 1, "percent": 0}


def test_a_configured_quote_beats_the_files_own_habit() -> None:
    before = 'x = "a"\n'
    after = 'x = "a"\ny = "b"\n'
    configured = {**CONVENTIONS, "quotes": {**CONVENTIONS["quotes"]}}
    configured["quotes"]["source"] = "the project's configuration"
    (found,) = coherence(change(after, before), configured)
    assert "the project's configuration: single" in found["message"]
    assert coherence(change(after, before), CONVENTIONS) == []  # measured: the file's habit


def test_the_quote_a_ruff_configuration_asks_for_is_the_convention(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ruff.format]\nquote-style = "single"\n[tool.ruff.lint]\nselect = ["E"]\n'
    )
    config = read_config(tmp_path)
    assert config.quote_style == "single"
    found = conventions({"a.py": 'x = "a"\n'}, [], config)
    assert found["quotes"]["value"] == "single" and found["quotes"]["double"] == 1
    (tmp_path / "ruff.toml").write_text('[lint.flake8-quotes]\ninline-quotes = "double"\n')
    assert read_config(tmp_path).quote_style == "double"
    (tmp_path / "ruff.toml").write_text('[format]\nquote-style = "preserve"\n')
    assert read_config(tmp_path).quote_style is None
    assert conventions({"a.py": "x = 'a'\n"}, [], ProjectConfig())["quotes"]["source"] == (
        "its code"
    )
