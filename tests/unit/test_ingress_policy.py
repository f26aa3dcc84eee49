"""The per-producer policy of the ingress: pure rules over (authenticated producer, event)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    GoalAccepted,
    GoalAcceptedData,
    GoalCompleted,
    GoalCompletedData,
    GoalScopeChanged,
    GoalScopeChangedData,
    GoalSubmitted,
    GoalSubmittedData,
    PlanProposed,
    PlanProposedData,
    TaskAssigned,
    TaskAssignedData,
)
from callsheet.events.envelope import Event
from callsheet.ingress.policy import EXTERNAL_TYPES, Policy, PolicyError, ProducerRules


def submitted(producer: str = "svc", goal: str = "g1") -> GoalSubmitted:
    return GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id=goal, producer=producer)


def note(author: str, producer: str = "svc") -> ContextUpdated:
    data = ContextUpdatedData(key="k", kind="note", value=1, author=author)
    return ContextUpdated.new(data=data, goal_id="g1", producer=producer)


CREW_ONLY: list[Event] = [
    GoalCompleted.new(data=GoalCompletedData(outcome="succeeded"), goal_id="g1", producer="svc"),
    GoalAccepted.new(data=GoalAcceptedData(supervisor="s"), goal_id="g1", producer="svc"),
    PlanProposed.new(data=PlanProposedData(plan_version=1, tasks=[]), goal_id="g1", producer="svc"),
    TaskAssigned.new(data=TaskAssignedData(role="r"), goal_id="g1", task_id="t", producer="svc"),
]


def test_by_default_a_service_says_only_what_a_requester_says() -> None:
    policy = Policy()
    assert policy.check("svc", submitted()) is None
    scope = GoalScopeChanged.new(
        data=GoalScopeChangedData(change="more"), goal_id="g1", producer="svc"
    )
    assert policy.check("svc", scope) is None
    assert policy.check("svc", note(author="svc")) is None
    for event in CREW_ONLY:
        refusal = policy.check("svc", event)
        assert refusal is not None and refusal.field == "$.type", event.event_type
        assert event.event_type in refusal.problem
    assert "aggregate.recorded" in EXTERNAL_TYPES


def test_context_entries_only_in_its_own_name() -> None:
    refusal = Policy().check("svc", note(author="supervisor"))
    assert refusal is not None and refusal.field == "$.data.author"
    trusting = Policy({"svc": ProducerRules(own_context_only=False)})
    assert trusting.check("svc", note(author="supervisor")) is None


def test_the_authenticated_producer_decides_not_the_body() -> None:
    refusal = Policy().check("mallory", submitted(producer="svc"))
    assert refusal is not None and refusal.field == "$.producer"
    assert "'mallory'" in refusal.problem


def test_rules_per_producer_types_and_goals() -> None:
    policy = Policy(
        {
            "billing": ProducerRules(types=("goal.submitted",), goals=("billing-*",)),
            "ops": ProducerRules(types=("*",)),
        },
        default=None,
    )
    assert policy.check("billing", submitted("billing", "billing-7")) is None
    refusal = policy.check("billing", submitted("billing", "payroll-1"))
    assert refusal is not None and refusal.field == "$.goal_id"
    refusal = policy.check("billing", note("billing", producer="billing"))
    assert refusal is not None and refusal.field == "$.type"
    ops = GoalCompleted.new(data=GoalCompletedData(outcome="failed"), goal_id="g", producer="ops")
    assert policy.check("ops", ops) is None
    stranger = policy.check("stranger", submitted("stranger"))
    assert stranger is not None and "may not publish anything" in stranger.problem


async def test_it_is_also_the_http_ingress_rule() -> None:
    refusal = await Policy()("svc", CREW_ONLY[0])
    assert refusal is not None and refusal.field == "$.type"


def test_a_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        "[default]\n"
        'types = ["goal.submitted"]\n'
        "[producers.billing-service]\n"
        'types = ["goal.*", "context.updated"]\n'
        'goals = ["billing-*"]\n'
        "own_context_only = false\n"
    )
    policy = Policy.load(path)
    assert policy.check("other", submitted("other")) is None
    assert policy.check("other", note("other", producer="other")) is not None
    rules = policy.rules_for("billing-service")
    assert rules is not None and rules.allows_type("goal.completed")
    assert rules.allows_goal("billing-1") and not rules.allows_goal("x")
    assert not rules.own_context_only
    assert Policy.parse("default = false\n").rules_for("anyone") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not toml [", "not valid TOML"),
        ("[extra]\n", "unknown section"),
        ('[default]\ntypes = ["goal.submited"]\n', "matches no event type"),
        ("[default]\ncolour = 1\n", "unknown key"),
        ('[default]\ntypes = "goal.submitted"\n', "must be a list"),
        ("[default]\ntypes = [1]\n", "non-empty string"),
        ('[default]\nown_context_only = "yes"\n', "true or false"),
        ("producers = 3\n", "must be a table"),
    ],
)
def test_a_bad_policy_file_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        Policy.parse(text)


def test_an_unreadable_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        Policy.load(tmp_path / "missing.toml")
