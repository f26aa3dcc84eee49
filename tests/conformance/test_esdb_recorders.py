"""The eventsourcing library's own recorder test cases, run against JetStream.

Nothing is overridden except ``create_recorder`` (and test setup/cleanup): the
library's assertions run unchanged against a real nats-server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
)

from callsheet.esdb import JetStreamAggregateRecorder, JetStreamApplicationRecorder
from tests.conformance.esdb_support import Recorders


@pytest.fixture
def _recorders(request: pytest.FixtureRequest, nats_url: str) -> Iterator[None]:
    recorders = Recorders(nats_url)
    request.instance.recorders = recorders
    yield
    recorders.close()


@pytest.mark.usefixtures("_recorders")
class TestJetStreamAggregateRecorder(AggregateRecorderTestCase):
    recorders: Recorders

    def create_recorder(self) -> JetStreamAggregateRecorder:
        return self.recorders.aggregate()


@pytest.mark.usefixtures("_recorders")
class TestJetStreamApplicationRecorder(ApplicationRecorderTestCase[JetStreamApplicationRecorder]):
    recorders: Recorders

    def create_recorder(self) -> JetStreamApplicationRecorder:
        return self.recorders.application()

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


@pytest.mark.usefixtures("_recorders")
class TestJetStreamNonInterleavingNotificationIDs(NonInterleavingNotificationIDsBaseCase):
    recorders: Recorders

    def create_recorder(self) -> JetStreamApplicationRecorder:
        return self.recorders.application()
