"""Replay and inspection of the log: states as of a point, diffs, causal chains, archives.

Pure logic only (no I/O): the CLI in ``callsheet.cli.replay_cmds`` reads the store
and hands the events to these functions.
"""

from __future__ import annotations

from callsheet.replay.archive import ArchiveError, ArchiveHeader, dump_archive, load_archive
from callsheet.replay.chain import UnknownEventError, causal_chain
from callsheet.replay.diff import ABSENT, Change, diff_states
from callsheet.replay.jsonable import state_to_json, to_jsonable
from callsheet.replay.until import Until, UntilError, cut, parse_until

__all__ = [
    "ABSENT",
    "ArchiveError",
    "ArchiveHeader",
    "Change",
    "UnknownEventError",
    "Until",
    "UntilError",
    "causal_chain",
    "cut",
    "diff_states",
    "dump_archive",
    "load_archive",
    "parse_until",
    "state_to_json",
    "to_jsonable",
]
