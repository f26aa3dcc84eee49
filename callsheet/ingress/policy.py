"""What each producer may publish through the ingress: event types and goals.

Pure: ``Policy.check(producer, event)`` answers from the rules alone. The
producer is the *authenticated* one (the ingress subject token the broker lets
only that user publish on, or the HTTP token), never the body's ``producer``
field, which must merely agree with it.

By default an external service may say only what a requester says
(``EXTERNAL_TYPES``): submit a goal, change its scope, record an application's
aggregate events, and write context entries in its own name. Everything the crew
says (``goal.accepted``, ``plan.proposed``, ``task.assigned``, ``goal.completed``,
...) is refused. A policy file (TOML) widens or narrows this per producer::

    [default]                       # anyone not listed below
    types = ["goal.submitted", "goal.scope_changed"]

    [producers.billing-service]
    types = ["goal.submitted", "goal.scope_changed", "context.updated"]
    goals = ["billing-*"]           # fnmatch patterns over the goal id

    [producers.ops-bridge]
    types = ["*"]                   # fully trusted
    own_context_only = false
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from callsheet.events.catalog import EVENT_TYPES, ContextUpdated
from callsheet.events.envelope import Event

__all__ = [
    "EXTERNAL_TYPES",
    "POLICY_ENV",
    "Policy",
    "PolicyError",
    "ProducerRules",
    "Refusal",
]

EXTERNAL_TYPES: Final = frozenset(
    {"goal.submitted", "goal.scope_changed", "aggregate.recorded", "context.updated"}
)
"""What an external service may publish by default: a requester's events only."""


POLICY_ENV: Final = "CALLSHEET_POLICY"
"""Environment variable naming the policy file of ``callsheet gatekeeper`` and ``serve``."""


class PolicyError(ValueError):
    """A policy file or rule that does not make sense (names the entry)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the policy refuses an event."""

    problem: str
    """What is not allowed, in one line."""
    field: str
    """JSON path of the field at fault."""


def _patterns(values: Iterable[str], what: str, where: str) -> tuple[str, ...]:
    out = tuple(values)
    for value in out:
        if not isinstance(value, str) or not value:
            raise PolicyError(f"{where}: every {what} must be a non-empty string")
    return out


@dataclass(frozen=True, slots=True)
class ProducerRules:
    """The rules for one producer."""

    types: tuple[str, ...] = tuple(sorted(EXTERNAL_TYPES))
    """Event types it may publish: names or fnmatch patterns (``task.*``, ``*``)."""
    goals: tuple[str, ...] = ("*",)
    """Goals it may publish for: fnmatch patterns over the goal id."""
    own_context_only: bool = True
    """A ``context.updated`` must name the producer itself as ``data.author``."""

    def __post_init__(self) -> None:
        """Refuse a type pattern that matches no catalog type (a typo would refuse all)."""
        for pattern in self.types:
            if not any(fnmatch.fnmatchcase(t, pattern) for t in EVENT_TYPES):
                raise PolicyError(f"type {pattern!r} matches no event type of the catalog")

    def allows_type(self, event_type: str) -> bool:
        """Tell whether the producer may publish this event type."""
        return any(fnmatch.fnmatchcase(event_type, p) for p in self.types)

    def allows_goal(self, goal_id: str) -> bool:
        """Tell whether the producer may publish for this goal."""
        return any(fnmatch.fnmatchcase(goal_id, p) for p in self.goals)


class Policy:
    """Rules per producer, with a default for producers not listed.

    Args:
        producers: Rules by producer id.
        default: Rules for any other producer; None refuses unlisted producers.
    """

    def __init__(
        self,
        producers: Mapping[str, ProducerRules] | None = None,
        default: ProducerRules | None = ProducerRules(),  # frozen: shared safely
    ) -> None:
        self.producers = dict(producers or {})
        self.default = default

    def rules_for(self, producer: str) -> ProducerRules | None:
        """The rules that apply to ``producer`` (None: it may publish nothing)."""
        return self.producers.get(producer, self.default)

    def check(self, producer: str, event: Event) -> Refusal | None:
        """Judge one event from an authenticated producer; None lets it pass."""
        if event.producer != producer:
            return Refusal(
                f"producer {event.producer!r} is not the authenticated producer {producer!r}",
                "$.producer",
            )
        rules = self.rules_for(producer)
        if rules is None:
            return Refusal(f"producer {producer!r} may not publish anything", "$.producer")
        if not rules.allows_type(event.event_type):
            return Refusal(f"producer {producer!r} may not publish {event.event_type}", "$.type")
        if not rules.allows_goal(event.goal_id):
            return Refusal(
                f"producer {producer!r} may not publish for goal {event.goal_id!r}", "$.goal_id"
            )
        if (
            rules.own_context_only
            and isinstance(event, ContextUpdated)
            and event.data.author != producer
        ):
            return Refusal(
                f"producer {producer!r} may write context entries only as their author "
                f"(not {event.data.author!r})",
                "$.data.author",
            )
        return None

    async def __call__(self, producer: str, event: Event) -> Refusal | None:
        """``check``, as the HTTP ingress's asynchronous ``ProducerPolicy``."""
        return self.check(producer, event)

    @classmethod
    def parse(cls, text: str, *, source: str = "policy") -> Policy:
        """Read a policy from TOML text (see the module docstring).

        Raises:
            PolicyError: Not TOML, an unknown key, or a rule that matches nothing.
        """
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{source}: not valid TOML ({exc})") from None
        unknown = set(doc) - {"default", "producers"}
        if unknown:
            raise PolicyError(f"{source}: unknown section {sorted(unknown)[0]!r}")
        default: ProducerRules | None = ProducerRules()
        if "default" in doc:
            raw = doc["default"]
            default = None if raw is False else _rules(raw, f"{source}: [default]")
        producers_doc = doc.get("producers", {})
        if not isinstance(producers_doc, dict):
            raise PolicyError(f"{source}: [producers] must be a table")
        producers = {
            name: _rules(raw, f"{source}: [producers.{name}]")
            for name, raw in producers_doc.items()
        }
        return cls(producers, default)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read a policy file.

        Raises:
            PolicyError: The file cannot be read or is not a valid policy.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read policy file {path}: {exc}") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Policy:
        """The policy file named by ``CALLSHEET_POLICY``, or the default policy.

        Raises:
            PolicyError: The file cannot be read or is not a valid policy.
        """
        path = environ.get(POLICY_ENV, "").strip()
        return cls.load(path) if path else cls()


def _rules(raw: Any, where: str) -> ProducerRules:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a table")
    unknown = set(raw) - {"types", "goals", "own_context_only"}
    if unknown:
        raise PolicyError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    kwargs: dict[str, Any] = {}
    for key in ("types", "goals"):
        if key in raw:
            if not isinstance(raw[key], list):
                raise PolicyError(f"{where}: {key} must be a list of strings")
            kwargs[key] = _patterns(raw[key], key, where)
    if "own_context_only" in raw:
        if not isinstance(raw["own_context_only"], bool):
            raise PolicyError(f"{where}: own_context_only must be true or false")
        kwargs["own_context_only"] = raw["own_context_only"]
    try:
        return ProducerRules(**kwargs)
    except PolicyError as exc:
        raise PolicyError(f"{where}: {exc}") from None
