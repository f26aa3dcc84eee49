"""``callsheet redrive``: run an agent's handlers again on a goal's log and compare."""

from __future__ import annotations

import json
from typing import Any

import click

from callsheet.cli.agent_cmds import load_agent_class
from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.replay.redrive import RedriveReport, nothing_redriven, redrive

__all__ = ["EXIT_DIVERGED", "redrive_cmd"]

EXIT_DIVERGED = 3
"""Exit code when the re-driven agent did something other than what was recorded."""


def _print(report: RedriveReport) -> None:
    click.echo(
        f"re-drove {report.agent} on goal {report.goal_id}: {report.events} events, "
        f"{report.handled} handler runs; {report.emitted} events emitted, "
        f"{report.recorded} recorded"
    )
    for d in report.divergences:
        which = "" if d.delivery is None else f", delivery {d.delivery}"
        click.echo(f"\nat seq {d.cause_seq} ({d.cause_type} {d.cause_id}{which}): {d.kind}")
        if d.kind == "changed":
            for line in d.changes:
                click.echo(f"    {line}")
        else:
            shown = d.recorded if d.kind == "missing" else d.redriven
            assert shown is not None
            what = f"{shown['type']} task={shown.get('task_id')}"
            side = (
                "recorded, not emitted now" if d.kind == "missing" else "emitted now, not recorded"
            )
            click.echo(f"    {side}: {what}")
            click.echo(f"    data: {json.dumps(shown.get('data'), default=str)[:300]}")
    click.echo(
        "\nidentical to the log" if report.identical else f"\n{len(report.divergences)} divergences"
    )


@click.command("redrive")
@click.argument("target")
@click.option("--goal", "goal_id", required=True, help="The goal whose events to re-drive.")
@click.option(
    "--name", default=None, help="The agent's name in the log (default: its durable name)."
)
@click.option("--role", default=None, help="Role for a worker class that has none.")
@click.option(
    "--arg",
    "args",
    multiple=True,
    help="KEY=JSON: a keyword argument for the agent's constructor (e.g. lease_seconds=3).",
)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
def redrive_cmd(
    target: str,
    goal_id: str,
    name: str | None,
    role: str | None,
    args: tuple[str, ...],
    as_json: bool,
) -> None:
    """Re-drive the agent class TARGET (MODULE:CLASS) on a goal's recorded events.

    Its ``@on`` handlers get the goal's events; a worker's ``@work`` handler runs
    each delivery it recorded again. Model calls are answered from the log;
    nothing is called. Exits 0 when the agent reacts exactly as recorded, 3 when it
    diverges (each divergence is shown), 2 when nothing was re-driven (no handler
    ran: for a worker, name one of its role's workers in the goal with --name).
    """
    cls = load_agent_class(target, role, None)
    kwargs: dict[str, Any] = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        if not eq or not key.isidentifier():
            fail(f"--arg {arg!r} is not KEY=JSON", EXIT_INVALID)
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value  # a bare string
        if isinstance(kwargs[key], list):
            kwargs[key] = tuple(kwargs[key])
    try:
        agent = cls(name or cls.durable_name(), **kwargs)
    except (ValueError, TypeError) as exc:
        fail(f"cannot create {target}: {exc}", EXIT_INVALID)

    async def main() -> RedriveReport:
        async with open_store() as store:
            events = [s async for s in store.read(goal_id=goal_id)]
        if not events:
            fail(f"goal {goal_id!r} has no events", EXIT_INVALID)
        report = await redrive(agent, events)
        reason = nothing_redriven(agent, events, report)
        if reason is not None:
            fail(reason, EXIT_INVALID)
        return report

    report = run(main)
    if as_json:
        from callsheet.replay.jsonable import to_jsonable

        click.echo(json.dumps(to_jsonable(report), default=str))
    else:
        _print(report)
    raise SystemExit(0 if report.identical else EXIT_DIVERGED)
