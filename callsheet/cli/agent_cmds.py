"""``callsheet agent run``, ``worker``, ``crew``, ``queues``: running the crew."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click

from callsheet.agents import Agent, AgentRuntime, queue_depth
from callsheet.agents.handlers import HandlerDefinitionError
from callsheet.agents.start import START_POLICIES
from callsheet.cli.common import EXIT_INVALID, fail, open_store, run
from callsheet.crew import FailurePolicy, build_crew, worker_class

__all__ = ["agent", "crew", "load_agent_class", "queues", "worker"]

_ROLES = "database,backend,frontend"


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


def _roles(value: str) -> tuple[str, ...]:
    roles = tuple(r.strip() for r in value.split(",") if r.strip())
    if not roles:
        fail("--roles needs at least one role", EXIT_INVALID)
    return roles


_LEADER_TTL_HELP = (
    "Run as one of several instances: the first takes a lease of this many seconds and "
    "leads, the others stand by and take over when it stops or dies."
)


async def _serve(agents: list[Agent], announce: str, leader_ttl: float | None = None) -> None:
    async with open_store() as store:
        runtime = AgentRuntime(store, agents, leader_ttl=leader_ttl)
        # "ready" once the consumers exist, so that a parent process can wait for it.
        await runtime.run_until_signalled(
            lambda: click.echo(f"callsheet: {announce} ready", err=True)
        )


def load_agent_class(
    target: str, role: str | None, lease: float | None, start_from: str | None = None
) -> type[Agent]:
    """Import the agent class MODULE:CLASS, subclassed with a role, lease, start policy if given."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: modules of the project folder
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        fail(f"{target!r} is not MODULE:CLASS (e.g. callsheet.crew:Supervisor)", EXIT_INVALID)
    try:
        # A wrongly declared handler is found while the module defines the class.
        found: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, HandlerDefinitionError) as exc:
        fail(f"cannot load {target}: {exc}", EXIT_INVALID)
    if not (isinstance(found, type) and issubclass(found, Agent)):
        fail(f"{target} is not an Agent subclass", EXIT_INVALID)
    cls: type[Agent] = found
    extra: dict[str, Any] = {}
    if role is not None:
        extra["role"] = role
    if lease is not None:
        extra["lease_seconds"] = lease
    if start_from is not None:
        extra["start_from"] = start_from
    if extra:
        try:
            cls = type(cls.__name__, (cls,), extra)
        except HandlerDefinitionError as exc:
            fail(str(exc), EXIT_INVALID)
    return cls


@click.group()
def agent() -> None:
    """Run agents."""


@agent.command("run")
@click.argument("target")
@click.option("--name", default=None, help="Agent id (default: its durable name plus a suffix).")
@click.option("--role", default=None, help="Role for a worker class that has none.")
@click.option("--lease", type=click.FloatRange(min=0.1), default=None, help="Lease, seconds.")
@click.option("--leader-ttl", type=click.FloatRange(min=0.5), default=None, help=_LEADER_TTL_HELP)
@click.option(
    "--start-from",
    type=click.Choice(START_POLICIES),
    default=None,
    help="Where its @on handlers begin the first time it runs under its durable name: "
    "'history' handles every event of the log, 'now' only events appended after that first "
    "start (its views are still folded from the whole log). Default: the class's start_from; "
    "an observer starts now, the crew's kinds (controller, supervisor, reviewer, worker) "
    "process the history. A later run always continues from where it stopped.",
)
@click.option("--log-level", default="warning", show_default=True)
def agent_run(
    target: str,
    name: str | None,
    role: str | None,
    lease: float | None,
    leader_ttl: float | None,
    start_from: str | None,
    log_level: str,
) -> None:
    """Run the agent class TARGET (MODULE:CLASS) until SIGINT or SIGTERM.

    An observer started for the first time reacts only to events appended from then on
    (see --start-from); its views are folded from the whole log.
    """
    _logging(log_level)
    cls = load_agent_class(target, role, lease, start_from)
    try:
        instance = cls(name)
    except (HandlerDefinitionError, ValueError, TypeError) as exc:
        fail(f"cannot create {target}: {exc}", EXIT_INVALID)
    run(lambda: _serve([instance], f"agent {instance.name}", leader_ttl))


@click.command()
@click.option("--role", required=True, help="The worker's role.")
@click.option("--name", default=None, help="Agent id (default: the role plus a suffix).")
@click.option("--lease", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.option(
    "--step-seconds", type=click.FloatRange(min=0), default=None, help="Length of each work step."
)
@click.option("--log-level", default="warning", show_default=True)
def worker(
    role: str, name: str | None, lease: float, step_seconds: float | None, log_level: str
) -> None:
    """Run one specialist worker of ROLE (it takes tasks from the role's queue)."""
    _logging(log_level)
    instance = worker_class(role, lease_seconds=lease, step_seconds=step_seconds)(name)
    run(lambda: _serve([instance], f"worker {instance.name}"))


@click.command()
@click.option("--roles", default=_ROLES, show_default=True, help="Worker roles, comma-separated.")
@click.option("--workers-per-role", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--review/--no-review", default=False, help="Review every result.")
@click.option("--lease", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.option("--step-seconds", type=click.FloatRange(min=0), default=None)
@click.option("--fallback", multiple=True, help="ROLE=OTHER: hand ROLE's failed tasks to OTHER.")
@click.option("--leader-ttl", type=click.FloatRange(min=0.5), default=None, help=_LEADER_TTL_HELP)
@click.option("--log-level", default="warning", show_default=True)
def crew(
    roles: str,
    workers_per_role: int,
    review: bool,
    lease: float,
    step_seconds: float | None,
    fallback: tuple[str, ...],
    leader_ttl: float | None,
    log_level: str,
) -> None:
    """Run the crew: controller, supervisor, (reviewer,) and workers, in this process."""
    _logging(log_level)
    pairs = [f.split("=", 1) for f in fallback]
    if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
        fail("--fallback takes ROLE=OTHER", EXIT_INVALID)
    agents = build_crew(
        _roles(roles),
        workers_per_role=workers_per_role,
        lease_seconds=lease,
        step_seconds=step_seconds,
        review=review,
        policy=FailurePolicy(fallback_roles={p[0]: p[1] for p in pairs}),
    )
    run(lambda: _serve(agents, "crew", leader_ttl))


@click.command()
@click.option("--roles", default=_ROLES, show_default=True, help="Roles to show.")
def queues(roles: str) -> None:
    """Work waiting and in flight in each role's queue."""

    async def main() -> None:
        async with open_store() as store:
            js = store.nc.jetstream()
            heads = ("waiting", "in flight", "redelivered", "idle workers")
            click.echo(f"{'role':<16} " + " ".join(f"{h:>12}" for h in heads))
            for role in _roles(roles):
                depth = await queue_depth(js, store.config.stream, role)
                if depth is None:
                    click.echo(f"{role:<16} {'(no worker has run)':>45}")
                    continue
                values = (depth.waiting, depth.in_flight, depth.redelivered, depth.workers_waiting)
                click.echo(f"{role:<16} " + " ".join(f"{v:>12}" for v in values))

    run(main)
