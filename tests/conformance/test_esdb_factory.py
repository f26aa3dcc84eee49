"""The library's infrastructure factory test case, for ``PERSISTENCE_MODULE=callsheet.esdb``."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.sqlite import SQLiteProcessRecorder, SQLiteTrackingRecorder
from eventsourcing.tests.persistence import InfrastructureFactoryTestCase
from eventsourcing.utils import Environment
from ulid import ULID

from callsheet.esdb import (
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamFactory,
)
from tests.conformance.esdb_support import delete_streams


class _SubTrackingRecorder(SQLiteTrackingRecorder):
    pass


@pytest.fixture
def _nats(request: pytest.FixtureRequest, nats_url: str) -> None:
    request.instance.nats_url = nats_url


@pytest.mark.usefixtures("_nats")
class TestJetStreamFactory(InfrastructureFactoryTestCase[JetStreamFactory]):
    nats_url: str

    def expected_factory_class(self) -> type[JetStreamFactory]:
        return JetStreamFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return JetStreamAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return JetStreamApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return SQLiteTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return _SubTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return SQLiteProcessRecorder

    def setUp(self) -> None:
        uid = str(ULID()).lower()
        self.env = Environment(
            "TestCase",
            {
                InfrastructureFactory.PERSISTENCE_MODULE: "callsheet.esdb",
                JetStreamFactory.NATS_URL: self.nats_url,
                JetStreamFactory.ESDB_STREAM: f"ES_{uid}",
                JetStreamFactory.ESDB_ROOT: f"t{uid}",
                JetStreamFactory.ESDB_BLOB_BUCKET: f"ES_{uid}_BLOBS",
                JetStreamFactory.ESDB_TRACKING_MODULE: "eventsourcing.sqlite",
                "SQLITE_DBNAME": ":memory:",
            },
        )
        super().setUp()

    def tearDown(self) -> None:
        factory = self.factory
        for purpose in ("events", "snapshots"):
            delete_streams(factory.bridge, factory.store_config(purpose))
        super().tearDown()
        factory.close()  # a second close does nothing
