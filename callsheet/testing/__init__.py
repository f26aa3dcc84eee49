"""callsheet's test kit: test your own agents and projections the way callsheet tests its own.

Installed with callsheet, its pytest plugin (``callsheet.testing.plugin``) gives
every test suite the fixtures ``callsheet_nats_url``, ``callsheet_store``,
``callsheet_agents``, ``callsheet_crew`` and ``recorded_model``; this package
holds the helpers to use with them::

    import pytest
    from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData
    from callsheet.projections import PROJECTIONS
    from callsheet.testing import publish, wait_for_event, wait_for_state

    @pytest.mark.asyncio
    async def test_a_goal_completes(callsheet_store, callsheet_crew):
        await publish(callsheet_store, GoalSubmitted, GoalSubmittedData(title="Ship"), goal="g1")
        done = await wait_for_event(callsheet_store, goal="g1", types=["goal.completed"])
        board = await wait_for_state(
            callsheet_store, PROJECTIONS["board"], lambda b: b.outcome is not None, goal="g1"
        )
"""

from callsheet.testing.helpers import publish, wait_for_event, wait_for_state
from callsheet.testing.models import RecordedCall, RecordedModel, RecordingModel
from callsheet.testing.redrive import assert_redrives_identically
from callsheet.testing.servers import BACKENDS, Backend, container_unavailable, nats_server

__all__ = [
    "BACKENDS",
    "Backend",
    "RecordedCall",
    "RecordedModel",
    "RecordingModel",
    "assert_redrives_identically",
    "container_unavailable",
    "nats_server",
    "publish",
    "wait_for_event",
    "wait_for_state",
]
