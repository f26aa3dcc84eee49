"""The infrastructure factory selected with ``PERSISTENCE_MODULE=callsheet.esdb``.

The application's events are ``aggregate.recorded`` events of callsheet's log,
all under one goal (see ``callsheet.events.catalog.aggregates``).

Environment settings (each may be prefixed with the application name, as usual):

==========================  ================================================================
``NATS_URL``                server URLs, comma-separated (default ``nats://127.0.0.1:4222``)
``ESDB_STREAM``             the log's stream (default ``CALLSHEET_EVENTS``); snapshots go to
                            ``{ESDB_STREAM}_SNAPSHOTS``
``ESDB_ROOT``               the log's subject root (default ``cs``); snapshots are on
                            ``{root}-snapshots.ev.>``
``ESDB_GOAL``               the goal id the application's events are recorded under
                            (default: the application's name)
``ESDB_BLOB_BUCKET``        Object Store bucket of events over the message size
                            (default ``CALLSHEET_BLOBS``, the log's)
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
from callsheet.esdb.recorders import JetStreamAggregateRecorder, JetStreamApplicationRecorder
from callsheet.events.stream import StoreConfig
from callsheet.events.subjects import DEFAULT_ROOT

__all__ = ["JetStreamFactory"]

_NAME_RE = re.compile(r"[^A-Za-z0-9_-]")


class JetStreamFactory(InfrastructureFactory[TrackingRecorder]):
    """Makes recorders that keep the library's events in a JetStream stream."""

    NATS_URL = "NATS_URL"
    ESDB_STREAM = "ESDB_STREAM"
    ESDB_ROOT = "ESDB_ROOT"
    ESDB_GOAL = "ESDB_GOAL"
    ESDB_BLOB_BUCKET = "ESDB_BLOB_BUCKET"
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
        defaults = StoreConfig()
        self.stream = self.env.get(self.ESDB_STREAM, defaults.stream)
        self.root = self.env.get(self.ESDB_ROOT, DEFAULT_ROOT)
        self.goal = self.env.get(self.ESDB_GOAL) or self.env.name or "eventsourcing"
        self.blob_bucket = self.env.get(self.ESDB_BLOB_BUCKET, defaults.blob_bucket)
        self.replicas = int(self.env.get(self.ESDB_REPLICAS, "1"))
        self.max_batch = int(self.env.get(self.ESDB_MAX_BATCH, "1000"))
        self.timeout = float(self.env.get(self.ESDB_TIMEOUT, "10"))
        self._tracking_factory: InfrastructureFactory[Any] | None = None
        self.bridge = LoopBridge(
            servers,
            name=f"callsheet-esdb-{self.env.name or 'app'}",
            connect_wait=float(self.env.get(self.ESDB_CONNECT_TIMEOUT, "15")),
        )

    def store_config(self, purpose: str = "events") -> StoreConfig:
        """Return the log a purpose is recorded in (``events``, or ``snapshots``: its own)."""
        if purpose == "events":
            stream, root = self.stream, self.root
        else:
            safe = _NAME_RE.sub("_", purpose)
            stream, root = f"{self.stream}_{safe.upper()}", f"{self.root}-{safe}"
        return StoreConfig(
            stream=stream,
            root=root,
            blob_bucket=self.blob_bucket,
            replicas=self.replicas,
            max_batch=self.max_batch,
        )

    def _create(self) -> bool:
        return bool(strtobool(self.env.get(self.CREATE_TABLE, "yes") or "yes"))

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        """Return a recorder of an aggregate sequence (snapshots use their own stream)."""
        recorder = JetStreamAggregateRecorder(
            self.bridge, self.store_config(purpose), goal=self.goal, timeout=self.timeout
        )
        if self._create():
            recorder.create_stream()
        return recorder

    def application_recorder(self) -> ApplicationRecorder:
        """Return the application recorder: notification id = stream sequence."""
        recorder = JetStreamApplicationRecorder(
            self.bridge, self.store_config(), goal=self.goal, timeout=self.timeout
        )
        if self._create():
            recorder.create_stream()
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
