"""The ``callsheet`` command."""

from __future__ import annotations

import click

from callsheet import __version__
from callsheet.cli.agent_cmds import agent, crew, queues, worker
from callsheet.cli.board_cmd import board
from callsheet.cli.broker_cmds import down, status, up
from callsheet.cli.context_cmd import context
from callsheet.cli.demo_cmd import demo
from callsheet.cli.events_cmd import events
from callsheet.cli.ingress_cmds import dead_letters, gatekeeper
from callsheet.cli.metrics_cmd import metrics
from callsheet.cli.publish_cmd import publish
from callsheet.cli.questions_cmd import answer, questions
from callsheet.cli.redrive_cmd import redrive_cmd
from callsheet.cli.replay_cmds import export, import_, replay, why
from callsheet.cli.review_cmd import review
from callsheet.cli.schema_cmd import schema
from callsheet.cli.scope_cmd import scope
from callsheet.cli.serve_cmd import serve
from callsheet.cli.submit_cmd import submit
from callsheet.cli.token_cmd import token
from callsheet.cli.trace_cmd import trace

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callsheet")
def cli() -> None:
    """callsheet: event-sourced choreography for teams of AI agents, on NATS JetStream.

    Without CALLSHEET_NATS_URL, commands use the project's embedded nats-server:
    the project is $CALLSHEET_HOME, else the nearest folder from here up that holds
    a .callsheet folder (as git finds .git), else here. The server is started on
    first use (said on stderr, with its folder); its data is in .callsheet.

    Times (--since, --until, --occurred-at) are ISO 8601: with Z or an offset, or
    local time without one.
    """


for command in (review, up, down, status, publish, events, schema, demo, gatekeeper, dead_letters):
    cli.add_command(command)
for command in (
    replay,
    context,
    why,
    export,
    import_,
    redrive_cmd,
    trace,
    agent,
    worker,
    crew,
    submit,
    questions,
    answer,
    scope,
    queues,
    board,
    serve,
    token,
    metrics,
):
    cli.add_command(command)


def main() -> None:
    """Entry point of the console script."""
    cli()
