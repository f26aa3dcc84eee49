"""The infrastructure factory selected with ``PERSISTENCE_MODULE=callsheet.esdb``.

Environment settings (each may be prefixed with the application name, as usual):

==========================  ================================================================
``NATS_URL``                server URLs, comma-separated (default ``nats://127.0.0.1:4222``)
``ESDB_STREAM``             stream of the events (default ``CALLSHEET_ES``); snapshots go to
                            ``{ESDB_STREAM}_SNAPSHOTS``
``ESDB_ROOT``               subject root (default ``cs``): events on ``{root}.es.>``,
                            snapshots on ``{root}.es_snapshots.>``
``ESDB_REPLICAS``           stream replicas (default 1)
``ESDB_MAX_BATCH``          most events per write, the server's atomic batch limit (1000)
``ESDB_TIMEOUT``            seconds to wait for a write's acknowledgement (default 10)
``ESDB_CONNECT_TIMEOUT``    seconds to keep trying the first connection (default 15)
``CREATE_TABLE``            create the streams if missing (default yes)
``ESDB_TRACKING_MODULE``    persistence module for tracking and process recorders, e.g.
                            ``eventsourcing.sqlite`` or ``eventsourcing.postgres``, configured
                            by that module's own settings (``SQLITE_DBNAME``...)
==========================  ================================================================

Tracking and process recorders are not on JetStream: they are made by the
library module named in ``ESDB_TRACKING_MODULE`` (so a process application's
own events are recorded there, not in JetStream).
"""

from __future__ import annotations

import re
from typing import Any

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType, strtobool

from callsheet.esdb.bridge import LoopBridge
from callsheet.esdb.recorders import (
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    Layout,
)

__all__ = ["JetStreamFactory"]

_NAME_RE = re.compile(r"[^A-Za-z0-9_-]")


class JetStreamFactory(InfrastructureFactory[TrackingRecorder]):
    """Makes recorders that keep the library's events in a JetStream stream."""

    NATS_URL = "NATS_URL"
    ESDB_STREAM = "ESDB_STREAM"
    ESDB_ROOT = "ESDB_ROOT"
    ESDB_REPLICAS = "ESDB_REPLICAS"
    ESDB_MAX_BATCH = "ESDB_MAX_BATCH"
    ESDB_TIMEOUT = "ESDB_TIMEOUT"
    ESDB_CONNECT_TIMEOUT = "ESDB_CONNECT_TIMEOUT"
    ESDB_TRACKING_MODULE = "ESDB_TRACKING_MODULE"
    CREATE_TABLE = "CREATE_TABLE"

    def __init__(self, env: Environment | EnvType | None):
        """Read the settings and connect to NATS (on the bridge's own loop thread)."""
        super().__init__(env)
        servers = self.env.get(self.NATS_URL, "nats://127.0.0.1:4222").split(",")
        self.stream = self.env.get(self.ESDB_STREAM, "CALLSHEET_ES")
        self.root = self.env.get(self.ESDB_ROOT, "cs")
        self.replicas = int(self.env.get(self.ESDB_REPLICAS, "1"))
        self.max_batch = int(self.env.get(self.ESDB_MAX_BATCH, "1000"))
        self.timeout = float(self.env.get(self.ESDB_TIMEOUT, "10"))
        self._tracking_factory: InfrastructureFactory[Any] | None = None
        self.bridge = LoopBridge(
            servers,
            name=f"callsheet-esdb-{self.env.name or 'app'}",
            connect_wait=float(self.env.get(self.ESDB_CONNECT_TIMEOUT, "15")),
        )

    def layout(self, purpose: str = "events") -> Layout:
        """Return the stream and subject prefix of a purpose (``events``, ``snapshots``)."""
        if purpose == "events":
            return Layout(self.stream, f"{self.root}.es")
        safe = _NAME_RE.sub("_", purpose)
        return Layout(f"{self.stream}_{safe.upper()}", f"{self.root}.es_{safe}")

    def _create(self) -> bool:
        return bool(strtobool(self.env.get(self.CREATE_TABLE, "yes") or "yes"))

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        """Return a recorder of an aggregate sequence (snapshots use their own stream)."""
        recorder = JetStreamAggregateRecorder(
            self.bridge, self.layout(purpose), max_batch=self.max_batch, timeout=self.timeout
        )
        if self._create():
            recorder.create_stream(replicas=self.replicas)
        return recorder

    def application_recorder(self) -> ApplicationRecorder:
        """Return the application recorder: notification id = stream sequence."""
        recorder = JetStreamApplicationRecorder(
            self.bridge, self.layout(), max_batch=self.max_batch, timeout=self.timeout
        )
        if self._create():
            recorder.create_stream(replicas=self.replicas)
        return recorder

    def _tracking(self) -> InfrastructureFactory[Any]:
        module = self.env.get(self.ESDB_TRACKING_MODULE)
        if not module:
            raise OSError(
                "tracking and process recorders are not on JetStream: set "
                f"{self.ESDB_TRACKING_MODULE} to a library persistence module "
                "(eventsourcing.sqlite, eventsourcing.postgres) and its settings"
            )
        env = Environment(self.env.name, dict(self.env))
        for key in env.create_keys(self.PERSISTENCE_MODULE):
            env[key] = module
        if self._tracking_factory is None:
            self._tracking_factory = InfrastructureFactory.construct(env)
        else:
            # Settings changed since (a recorder topic, CREATE_TABLE) apply too.
            self._tracking_factory.env.clear()
            self._tracking_factory.env.update(env)
        return self._tracking_factory

    def tracking_recorder(
        self, tracking_recorder_class: type[TrackingRecorder] | None = None
    ) -> TrackingRecorder:
        """Return a tracking recorder made by ``ESDB_TRACKING_MODULE``."""
        recorder: TrackingRecorder = self._tracking().tracking_recorder(tracking_recorder_class)
        return recorder

    def process_recorder(self) -> ProcessRecorder:
        """Return a process recorder made by ``ESDB_TRACKING_MODULE`` (events stored there)."""
        return self._tracking().process_recorder()

    def close(self) -> None:
        """Close the NATS connection and the tracking factory; safe to call twice."""
        if self._tracking_factory is not None:
            self._tracking_factory.close()
        self.bridge.close()


Factory = JetStreamFactory
