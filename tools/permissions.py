"""Generate ``infra/permissions.conf``: the broker's per-role users, from the crew's roles.

``python -m tools.permissions > infra/permissions.conf`` writes the shipped file (a
test checks that it equals this output); ``--worker-roles``, ``--stream``,
``--root`` and ``--blob-bucket`` make one for another deployment. Every worker
role gets a user of its own (``worker-{role}``) that may act on its own work
queue only; each observing role owns its agents' consumers, leader leases and
snapshots; the exclusive-resource leases belong to the roles that run test suites.
"""

from __future__ import annotations

import argparse
import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from callsheet.agents.consumers import consumer_name, work_consumer_name
from callsheet.events.stream import DEFAULT_STREAM
from callsheet.events.subjects import DEFAULT_ROOT
from callsheet.projections import PROJECTIONS
from callsheet.review.plan import ANALYST, FIXER, INTEGRATOR, INVENTORY, REPORTER, VERIFIER

__all__ = [
    "CREW_WORKER_ROLES",
    "LEASE_ROLES",
    "Deployment",
    "generate",
    "main",
    "password_variables",
]

CREW_WORKER_ROLES: tuple[str, ...] = (
    "database",
    "backend",
    "frontend",
    INVENTORY,
    ANALYST,
    VERIFIER,
    REPORTER,
    FIXER,
    INTEGRATOR,
)
"""Worker roles of the shipped file: the crew's default roles and the review crew's."""
LEASE_ROLES: tuple[str, ...] = (ANALYST, VERIFIER, INTEGRATOR)
"""Roles that hold a project's exclusive resources (``{stream}_LEASES``)."""

_OBSERVERS: dict[str, tuple[str, ...]] = {
    "controller": ("controller", "review-controller"),
    "supervisor": ("supervisor", "review-supervisor", "review-conflicts"),
    "reviewer": ("reviewer", "patch-reviewer"),
}
"""Observing roles and the durable names of their agents."""
_SPAWNS = (
    "plan.proposed",
    "plan.replanned",
    "task.planned",
    "task.assigned",
    "task.reassigned",
)
_GOAL_ENDS = ("goal.rejected", "goal.completed", "goal.cancelled")
_DENIED_TYPES: dict[str, tuple[str, ...]] = {
    "controller": _SPAWNS,
    "supervisor": ("goal.accepted",),
    "reviewer": ("goal.accepted", *_SPAWNS, *_GOAL_ENDS),
    "worker": ("goal.accepted", *_SPAWNS, *_GOAL_ENDS),
}
_ROLE_RE = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
_STREAM_OPS = ("DELETE", "PURGE", "UPDATE", "MSG.DELETE", "CREATE")
_CONSUMER_OPS = (
    "CREATE.*.{c}",
    "CREATE.*.{c}.>",
    "DURABLE.CREATE.*.{c}",
    "DELETE.*.{c}",
    "PAUSE.*.{c}",
    "MSG.NEXT.*.{c}",
    "RESET.*.{c}",
    "UNPIN.*.{c}",
    "LEADER.STEPDOWN.*.{c}",
)


@dataclass(frozen=True, slots=True)
class Deployment:
    """What the generated permissions name: the roles, the log's stream and subject root."""

    worker_roles: tuple[str, ...] = CREW_WORKER_ROLES
    stream: str = DEFAULT_STREAM
    root: str = DEFAULT_ROOT
    blob_bucket: str = "CALLSHEET_BLOBS"
    lease_roles: tuple[str, ...] = field(default=LEASE_ROLES)


@dataclass(frozen=True, slots=True)
class _User:
    name: str
    env: str
    consumers: tuple[str, ...]
    durables: tuple[str, ...]
    denied_types: tuple[str, ...]
    leases: bool
    worker: bool


def _users(d: Deployment) -> list[_User]:
    for role in d.worker_roles:
        if not _ROLE_RE.match(role):
            raise ValueError(f"worker role {role!r} must match [A-Za-z0-9_-]{{1,48}}")
    users = [
        _User(
            name=role,
            env=role.upper(),
            consumers=tuple(consumer_name("agent", n) for n in durables),
            durables=durables,
            denied_types=_DENIED_TYPES[role],
            leases=False,
            worker=False,
        )
        for role, durables in _OBSERVERS.items()
    ]
    users += [
        _User(
            name=f"worker-{role}",
            env=f"WORKER_{role.upper().replace('-', '_')}",
            consumers=(work_consumer_name(role),),
            durables=(),
            denied_types=_DENIED_TYPES["worker"],
            leases=role in d.lease_roles,
            worker=True,
        )
        for role in d.worker_roles
    ]
    return users


def _quote(subjects: Iterable[str], indent: str) -> list[str]:
    return [f'{indent}"{s}"' for s in subjects]


def _consumer_denials(names: Iterable[str], *, info: bool = False) -> list[str]:
    out: list[str] = []
    for c in names:
        out += [f"$JS.API.CONSUMER.{op.format(c=c)}" for op in _CONSUMER_OPS]
        if info:
            out.append(f"$JS.API.CONSUMER.INFO.*.{c}")
        out.append(f"$JS.ACK.*.{c}.>")
    return out


def _snapshot_subjects(d: Deployment, key: str) -> list[str]:
    """An agent's snapshot entry, and its large form in the snapshot object store."""
    meta = base64.urlsafe_b64encode(key.encode()).decode()
    return [f"$KV.{d.stream}_SNAPSHOTS.{key}", f"$O.{d.stream}_SNAPSHOT_BLOBS.M.{meta}"]


def _bucket_denials(d: Deployment, user: _User, users: Sequence[_User]) -> list[str]:
    out: list[str] = []
    if user.worker:  # no worker leads or snapshots: the buckets are not theirs at all
        out += [f"$KV.{d.stream}_LEADERS.>", f"$KV.{d.stream}_SNAPSHOTS.>"]
        out.append(f"$O.{d.stream}_SNAPSHOT_BLOBS.>")
    else:
        for other in users:
            if other is user:
                continue
            for durable in other.durables:
                out.append(f"$KV.{d.stream}_LEADERS.{durable}")
                out += _snapshot_subjects(d, f"agent-{durable}")
        # The projections' snapshots are the runner's (admin's: the CLI, the dashboard).
        for name in sorted(PROJECTIONS):
            out += [f"$KV.{d.stream}_SNAPSHOTS.{name}", f"$KV.{d.stream}_SNAPSHOTS.{name}.>"]
    if not user.leases:
        out.append(f"$KV.{d.stream}_LEASES.>")
    return out


def _agent_user(d: Deployment, user: _User, users: Sequence[_User]) -> list[str]:
    others = [c for u in users if u is not user for c in u.consumers]
    deny = [f"$JS.API.STREAM.{op}.>" for op in _STREAM_OPS]
    deny.append("# other roles' consumers: no redirect, pause, delete, fetch or ack")
    own_kind = [c for u in users if u is not user and u.worker == user.worker for c in u.consumers]
    # A worker sees no other role's queue, not even its info; other roles keep the info.
    deny += _consumer_denials(own_kind, info=user.worker)
    deny += _consumer_denials(c for c in others if c not in own_kind)
    deny.append("# other roles' leader leases and snapshots, and leases it does not hold")
    deny += _bucket_denials(d, user, users)
    deny += [f"{d.root}.ev.*.*.*.*.{t}" for t in user.denied_types]
    if user.worker:
        deny.append("$JS.API.CONSUMER.DELETE.>")
    lines = [
        "    {",
        f"      user: {user.name}, password: $CALLSHEET_{user.env}_PASSWORD",
        '      permissions: { publish: { allow: ">", deny: [',
    ]
    lines += [f"        {s}" if s.startswith("#") else f'        "{s}"' for s in deny]
    lines += ["      ] } }", "    }"]
    return lines


def _application(d: Deployment, users: Sequence[_User]) -> list[str]:
    allow = [
        f"{d.root}.ev.*.task.*.~.aggregate.recorded",
        f"{d.root}-snapshots.ev.*.task.*.~.aggregate.recorded",
        "$JS.API.>",
        "$JS.FC.>",
        f"$O.{d.blob_bucket}.>",
    ]
    deny = [f"$JS.API.STREAM.{op}.>" for op in _STREAM_OPS]
    lines = [
        "    {",
        "      user: application, password: $CALLSHEET_APPLICATION_PASSWORD",
        "      permissions: { publish: {",
        "        allow: [",
        *_quote(allow, "          "),
        "        ]",
        "        deny: [",
        *_quote(deny, "          "),
        "          # the agents' consumers: no redirect, pause, delete, fetch or ack",
        *_quote(_consumer_denials(c for u in users for c in u.consumers), "          "),
        "        ]",
        "      } }",
        "    }",
    ]
    return lines


def _header(d: Deployment) -> list[str]:
    workers = ", ".join(d.worker_roles)
    envs = ",".join(u.env for u in _users(d))
    return [
        "# Per-role permissions for callsheet's agents: the bounded topology, enforced by",
        "# the broker. GENERATED by `python -m tools.permissions` (tools/permissions.py):",
        "# edit that, not this file.",
        "# Include it from a server config (see nats-server-secure.conf). Passwords come from the",
        "# environment of nats-server: CALLSHEET_{ADMIN,SERVICE,APPLICATION}_PASSWORD and",
        f"# CALLSHEET_{{{envs}}}_PASSWORD.",
        f"# Subjects assume the subject root `{d.root}`, the log `{d.stream}` and blobs in"
        f" `{d.blob_bucket}`.",
        "#",
        "#   admin        everything (operators, the gatekeeper, the CLI, projection snapshots)",
        "#   controller   may accept or reject goals; may not plan or hand out work",
        "#   supervisor   may plan and hand out work; may not accept goals",
        "#   reviewer     reports on reviews; starts nothing",
        f"#   worker-ROLE  one per worker role ({workers}):",
        "#                reports on tasks, publishes artifacts and context; starts nothing;",
        "#                fetches, acks and sees only its own role's queue (work-ROLE)",
        "#   service      an untrusted producer named `service`: only its own ingress prefix",
        "#                (cs.in.service.>, cs.api.publish.service); the gatekeeper takes the",
        "#                producer from that token. Copy this user once per producer.",
        "#   application  an `eventsourcing` application on callsheet.esdb: records",
        "#                aggregate.recorded events (and its snapshots) and reads the log; nothing",
        "#                else. The streams and the blob bucket are made by admin first.",
        "# Nobody but admin may delete, purge or reconfigure a stream (the blob bucket is",
        "# write-once: see infra/README.md). Each agent consumer (agent-{durable}, work-{role}),",
        "# leader lease ({stream}_LEADERS) and agent snapshot ({stream}_SNAPSHOTS) is its",
        "# role's only; {stream}_LEASES belongs to the roles that run test suites",
        f"# ({', '.join(d.lease_roles)}).",
    ]


def generate(deployment: Deployment | None = None) -> str:
    """The permissions file for ``deployment`` (the shipped one by default)."""
    d = deployment or Deployment()
    users = _users(d)
    lines = [*_header(d), "", "authorization {", "  users = ["]
    lines.append("    { user: admin, password: $CALLSHEET_ADMIN_PASSWORD }")
    for user in users:
        lines += _agent_user(d, user, users)
    lines += _application(d, users)
    lines += [
        "    {",
        "      user: service, password: $CALLSHEET_SERVICE_PASSWORD",
        "      permissions: {",
        f'        publish: {{ allow: ["{d.root}.in.service.>", "{d.root}.api.publish.service"] }}',
        '        subscribe: { allow: ["_INBOX.>"] }',
        "      }",
        "    }",
        "  ]",
        "}",
    ]
    return "\n".join(lines) + "\n"


def password_variables(deployment: Deployment | None = None) -> dict[str, str]:
    """Every user of the generated file and the variable its password comes from."""
    d = deployment or Deployment()
    names = {"admin": "ADMIN", **{u.name: u.env for u in _users(d)}}
    names.update(application="APPLICATION", service="SERVICE")
    return {user: f"CALLSHEET_{env}_PASSWORD" for user, env in names.items()}


def main(argv: Sequence[str] | None = None) -> None:
    """Print the permissions file (the shipped one unless told otherwise)."""
    parser = argparse.ArgumentParser(prog="python -m tools.permissions", description=__doc__)
    parser.add_argument("--worker-roles", default=",".join(CREW_WORKER_ROLES))
    parser.add_argument("--lease-roles", default=",".join(LEASE_ROLES))
    parser.add_argument("--stream", default=DEFAULT_STREAM)
    parser.add_argument("--root", default=DEFAULT_ROOT)
    parser.add_argument("--blob-bucket", default="CALLSHEET_BLOBS")
    args = parser.parse_args(argv)
    roles = tuple(r.strip() for r in args.worker_roles.split(",") if r.strip())
    if not roles:
        parser.error("--worker-roles needs at least one role")
    leases = tuple(r.strip() for r in args.lease_roles.split(",") if r.strip())
    try:
        text = generate(Deployment(roles, args.stream, args.root, args.blob_bucket, leases))
    except ValueError as exc:
        parser.error(str(exc))
    print(text, end="")


if __name__ == "__main__":
    main()
