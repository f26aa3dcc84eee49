"""``callsheet publish`` with hostile arguments: one-line errors, exit 2, nothing stored."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from callsheet.cli.main import cli as callsheet_main
from tests.e2e.cli_support import CLI, cli

pytestmark = pytest.mark.e2e

GOAL_DATA = '{"title": "t"}'


def stored(env: dict[str, str]) -> list[dict[str, object]]:
    out = cli(env, "events", "--json")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def refused(out: subprocess.CompletedProcess[str], words: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--expect-seq", "-1"], "--expect-seq must be a sequence from 0"),
        (["--expect-seq", "99999999999999999999"], "--expect-seq must be a sequence from 0"),
        (["--id", ""], "$.id"),
        (["--goal", "x", "--data", "[" * 5000 + "]" * 5000], "nested too deeply"),
        (["--goal", "x", "--data", '{"title": "t", "x": ' + "[" * 5000 + "]" * 5000 + "}"], "too"),
        (["--goal", "\U0001f600" * 65], "over the limit of 128 bytes"),
        (["--data", '{"title": "t", "a\\nb\\u2028c": 1}'], "is not a known field"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    env: dict[str, str], extra: list[str], words: str
) -> None:
    args = ["publish", "goal.submitted", "--goal", "g", "--data", GOAL_DATA, *extra]
    out = cli(env, *args)
    refused(out, words)
    assert stored(env) == []


@pytest.mark.parametrize("option", ["--goal", "--task", "--id", "--producer", "--data"])
def test_an_undecodable_byte_in_an_argument(env: dict[str, str], option: str) -> None:
    args: list[str | bytes] = [*CLI, "publish", "task.progress", "--goal", "g", "--task", "t"]
    args += ["--data", '{"worker": "w", "percent": 1.0}']
    args += [option, b"bad\xff" if option != "--data" else b'{"worker": "\xff"}']
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    refused(out, "UTF-8")
    assert option in out.stderr
    assert stored(env) == []


def test_a_valid_publish_still_works(env: dict[str, str]) -> None:
    out = cli(env, "publish", "goal.submitted", "--goal", "g", "--data", GOAL_DATA)
    assert out.returncode == 0, out.stderr
    assert [e["event"]["type"] for e in stored(env)] == ["goal.submitted"]  # type: ignore[index]


text = st.text(st.characters(codec="utf-8") | st.characters(), max_size=40)
json_ish = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)


def test_publish_fuzzed_never_crashes(env: dict[str, str]) -> None:
    """Arbitrary arguments, in process: exit 0 (stored), 1 (a conflict) or 2 (one line).

    Afterwards the log holds exactly the events of the runs that exited 0.
    """
    runner = CliRunner()
    exits: list[int] = []

    @settings(max_examples=150, deadline=None, database=None)
    @given(
        mutated=st.sampled_from(
            [None, "TYPE", "--goal", "--task", "--id", "--expect-seq", "--data"]
        ),
        value=text
        | json_ish.map(json.dumps)
        | st.integers(min_value=-(2**70), max_value=2**70).map(str),
    )
    def one(mutated: str | None, value: str) -> None:
        """A valid publish with at most one argument replaced by a hostile value."""
        options = {"--goal": "g", "--data": GOAL_DATA}
        event_type = value if mutated == "TYPE" else "goal.submitted"
        if mutated not in (None, "TYPE"):
            options[mutated] = value
        args = ["publish", event_type, *[part for pair in options.items() for part in pair]]
        result = runner.invoke(callsheet_main, args, env=env)
        assert isinstance(result.exception, SystemExit | None), repr(result.exception)
        assert result.exit_code in (0, 1, 2), result.output
        assert "Traceback" not in result.output
        if result.exit_code == 2 and not result.stderr.startswith("Usage:"):
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        exits.append(result.exit_code)

    one()
    print(f"publish fuzz: {len(exits)} examples, {exits.count(0)} stored, {exits.count(2)} refused")
    assert len(exits) >= 100
    assert len(stored(env)) == exits.count(0)
