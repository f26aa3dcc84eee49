"""The web server of ``callsheet serve``: the dashboard, and the HTTP ingress at ``/v1``.

starlette on uvicorn: ``create_app`` makes the dashboard's app (server-sent events
keep its pages live), ``HttpIngress`` the ``/v1`` routes mounted in it, ``openapi``
their OpenAPI document, generated from the catalog.
"""

from callsheet.web.app import create_app
from callsheet.web.hub import Hub
from callsheet.web.ingress import HttpIngress, IngressLimits, ProducerPolicy
from callsheet.web.openapi import openapi
from callsheet.web.server import ServerLimits, make_server

__all__ = [
    "HttpIngress",
    "Hub",
    "IngressLimits",
    "ProducerPolicy",
    "ServerLimits",
    "create_app",
    "make_server",
    "openapi",
]
