"""Producers in other languages join a crew: JavaScript over NATS, curl over HTTP.

The JavaScript service (``examples/js_producer``) is installed with ``npm ci`` from
its lock file and run with Node against the test's nats-server, beside a real
gatekeeper and crew started with the ``callsheet`` command; the curl session
(``examples/http/curl_session.sh``) runs against ``callsheet serve``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli_support import Processes, cli
from tests.e2e.dashboard_support import Server, servers

__all__ = ["servers"]  # fixtures

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "examples" / "js_producer"
CURL_SESSION = ROOT / "examples" / "http" / "curl_session.sh"


def events(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    out = cli(env, "events", "--json", *args)
    assert out.returncode == 0, out.stderr
    return [json.loads(line)["event"] for line in out.stdout.splitlines()]


def installed_js(tmp_path: Path) -> Path:
    """The example copied out of the tree and installed from its lock file with ``npm ci``."""
    for tool in ("node", "npm"):
        assert shutil.which(tool), f"{tool} is not installed (apt-get install -y nodejs npm)"
    work = tmp_path / "js"
    shutil.copytree(JS, work, ignore=shutil.ignore_patterns("node_modules"))
    out = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (work / "node_modules" / "nats" / "package.json").is_file()
    return work


def test_a_javascript_service_publishes_follows_and_is_dead_lettered(
    env: dict[str, str], procs: Processes, tmp_path: Path
) -> None:
    work = installed_js(tmp_path)
    procs.start("gatekeeper")
    procs.start("crew", "--roles", "research,backend,frontend")
    goal = "js-invoices"
    run_env = {
        **env,
        "NATS_URL": env["CALLSHEET_NATS_URL"],
        "GOAL": goal,
        "PRODUCER": "billing-js",
        "TIMEOUT_SECONDS": "90",
    }
    out = subprocess.run(
        ["node", "producer.mjs"],
        cwd=work,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(out.stdout)  # the round trip, shown with -s
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("published goal.submitted ") and f"goal {goal}" in lines[0]
    dead = [line for line in lines if line.startswith("dead-lettered: ")]
    assert dead == [
        "dead-lettered: invalid_event: invalid event: $.data.percent: "
        "expected `float` <= 100.0 (field $.data.percent)"
    ]
    results = [line for line in lines if line.startswith("result of ")]
    assert "goal.completed: succeeded" in out.stdout
    # What the service saw is what the log holds.
    logged = events(env, "--goal", goal)
    submitted = [e for e in logged if e["type"] == "goal.submitted"]
    assert [e["producer"] for e in submitted] == ["billing-js"]
    stored_results = [e for e in logged if e["type"] == "task.result"]
    assert len(results) == len(stored_results) >= 2
    assert not [e for e in logged if e["type"] == "task.progress" and e["producer"] == "billing-js"]


def test_the_curl_session_against_callsheet_serve(
    env: dict[str, str], servers: list[Server]
) -> None:
    assert shutil.which("curl"), "curl is not installed"
    server = Server({**env, "CALLSHEET_POLICY": str(CURL_SESSION.parent / "policy.toml")})
    servers.append(server)
    made = cli(env, "token", "create", "billing")
    assert made.returncode == 0, made.stderr
    token = made.stdout.split()[-1]
    assert token.startswith("cst_")
    out = subprocess.run(
        ["bash", str(CURL_SESSION)],
        env={**env, "URL": server.url, "TOKEN": token, "GOAL": "curl-invoices"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    print(out.stdout)  # the session, shown with -s
    assert out.returncode == 0, out.stderr
    statuses = re.findall(r"-> HTTP (\d+)$", out.stdout, flags=re.MULTILINE)
    assert statuses == ["201", "200", "409", "400", "201", "200", "200", "401"]
    assert '"field":"$.data.percent"' in out.stdout and '"field":"$.id"' in out.stdout
    logged = events(env, "--goal", "curl-invoices")
    assert [e["type"] for e in logged] == ["goal.submitted", "task.progress", "task.progress"]
    assert {e["producer"] for e in logged} == {"billing"}
    assert [e["data"]["title"] for e in logged[:1]] == ["Invoice run"]  # not the forgery


def test_token_commands(env: dict[str, str]) -> None:
    made = [cli(env, "token", "create", name) for name in ("billing", "billing", "shipping")]
    assert all(m.returncode == 0 for m in made), [m.stderr for m in made]
    tokens = [m.stdout.split()[-1] for m in made]
    assert len(set(tokens)) == 3
    listed = cli(env, "token", "list")
    assert listed.returncode == 0
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == [
        "billing",
        "billing",
        "shipping",
    ]
    assert not any(t in listed.stdout for t in tokens)  # hints only, never a token
    revoked = cli(env, "token", "revoke", "billing")
    assert revoked.returncode == 0 and "revoked 2 tokens" in revoked.stdout
    again = cli(env, "token", "revoke", "billing")
    assert again.returncode == 2 and "has no token" in again.stderr
    bad = cli(env, "token", "create", "x" * 200)
    assert bad.returncode == 2 and "not a valid id" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_the_http_ingress_fuzzed_with_schemathesis(
    env: dict[str, str], servers: list[Server], tmp_path: Path
) -> None:
    server = Server(env)
    servers.append(server)
    token = cli(env, "token", "create", "fuzzer").stdout.split()[-1]
    examples = os.environ.get("CALLSHEET_FUZZ_EXAMPLES", "15")
    out = subprocess.run(
        [
            str(Path(shutil.which("st") or "st")),
            "--config-file",
            str(ROOT / "tests" / "e2e" / "schemathesis.toml"),
            "run",
            f"{server.url}/v1/openapi.json",
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--max-examples",
            examples,
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        cwd=ROOT,
        env={**env, "SCHEMATHESIS_HOOKS": "tests.e2e.fuzz_hooks", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = out.stdout[out.stdout.rfind("SUMMARY") :]
    print(summary)  # the counts, shown with -s
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts is not None, summary
    generated, passed = map(int, counts.groups())
    assert generated == passed > 500
    assert "Tested: 4" in summary
    # Whatever the fuzzer got stored is a valid, readable log, and the server still serves.
    assert cli(env, "events", "--json").returncode == 0
    assert server.proc.poll() is None
