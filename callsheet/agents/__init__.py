"""Agents: typed handlers over the log, work queues with leases, the bounded topology.

An agent subclasses ``Agent`` and declares ``@on`` handlers (events of the log,
in order) and at most one ``@work`` handler (tasks assigned to its role).
``AgentRuntime`` runs agents in a process; everything they emit is a new event
whose causation is the event handled, with an id derived from it.
"""

from callsheet.agents.agent import Agent, AgentKind
from callsheet.agents.consumers import QueueDepth, queue_depth
from callsheet.agents.context import HandlerContext, WorkContext
from callsheet.agents.dispatch import LeaseLost
from callsheet.agents.handlers import HandlerDefinitionError, on, work
from callsheet.agents.runtime import AgentRuntime
from callsheet.agents.topology import MAX_SUPERVISOR_LEVELS, TopologyViolation

__all__ = [
    "MAX_SUPERVISOR_LEVELS",
    "Agent",
    "AgentKind",
    "AgentRuntime",
    "HandlerContext",
    "HandlerDefinitionError",
    "LeaseLost",
    "QueueDepth",
    "TopologyViolation",
    "WorkContext",
    "on",
    "queue_depth",
    "work",
]
