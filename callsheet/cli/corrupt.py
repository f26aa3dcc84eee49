"""What a command that reads the log does with a message that is not a valid event."""

from __future__ import annotations

import click

from callsheet.events.store import CorruptEventError

__all__ = ["warn_corrupt"]


def warn_corrupt(error: CorruptEventError) -> None:
    """Report a skipped message on stderr, one line; the command reads on after it.

    A message is skipped when its body is not an event, does not match its subject
    (a producer claiming a type its subject, and so its permissions, do not give),
    or points at a blob that does not match its digest.
    """
    click.echo(f"callsheet: warning: skipped {error}", err=True)
