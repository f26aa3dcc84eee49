"""One benchmark suite: ``python -m tools.bench`` (``--case NAME`` for one case, ``--quick``).

Every case starts its own servers (``nats-server`` on a temporary store; for the
durable append case, one with ``sync_interval: always``; ``redis-server`` for
Celery), alternates the sides round by round so ratios hold on a loaded machine,
and the suite writes a Markdown table and JSON to ``--out`` (``bench-results/``).
Peers (AutoGen's gRPC runtime, Celery) run in an isolated virtual environment of
their own (``peers``); a peer that cannot be installed is reported as such in the
table, never replaced by a made-up figure. Nothing fails on speed.
"""
