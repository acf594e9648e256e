"""Every HTTP route of the gateway is declared once, on its handler: what the API document says of
it and who may call it.

    @route(
        "POST /api/orders",
        tag=N_("订单"),
        summary=N_("下单……"),
        body=p.PlaceOrderRequest,
        status=201,
        response=p.OrderOut,
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def place_order(self, request): ...

``roles`` are what the handler's ``self._who(request)`` admits and what the document lists as the
operation's ``x-roles``; ``query`` are the parameters ``query(request)`` accepts and the document
lists; ``status`` is the answer's status unless the handler returns ``(status, result)``.
``response`` is a contract schema (JSON), ``[schema]`` for a list of them, or the media type of what
is sent instead (a PDF, an image, a calendar); ``body`` likewise a schema or a file's media type. ``/openapi.json`` is generated from these
declarations (services/gateway/openapi.py). The screens and the document itself are routes too,
left out of the document with ``documented=False``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.gateway.http import JsonHandler

TEXT = "text/plain"
ICS = "text/calendar"
SVG = "image/svg+xml"
PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP = "application/zip"


@dataclass(frozen=True)
class Route:
    method: str
    url: str  # as werkzeug matches it: /api/orders/<order_id>
    roles: tuple[str, ...]
    tag: str | None = None
    summary: str | None = None
    body: type | str | None = None  # the request's contract schema, or the media type of a file
    status: int = 200
    response: type | str | None = None  # a contract schema, or the media type of a file
    many: bool = False
    query: tuple[str, ...] = ()
    documented: bool = True

    @property
    def path(self) -> str:
        """The path as OpenAPI writes it: /api/orders/{order_id}."""
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.url)


def route(spec: str, *, roles: tuple[str, ...], response=None, **declared):
    """nameko's HTTP entrypoint for ``spec`` ("GET /api/orders/<order_id>"), with the route's
    declaration (see above)."""
    method, url = spec.split(" ")
    if isinstance(response, list):
        (response,) = response
        declared["many"] = True
    meta = Route(method, url, roles, response=response, **declared)
    if meta.documented and not (meta.tag and meta.summary and meta.response):
        raise TypeError(f"{method} {url}: a documented route needs a tag, a summary and a response")
    return JsonHandler.decorator(method, url, route=meta)


def entrypoints(service_cls) -> list[tuple[str, JsonHandler]]:
    """Every HTTP entrypoint of the service class as (method name, entrypoint): its own first,
    then each mixin's in the order of its bases, each in the order it is written."""
    seen: dict[str, list[JsonHandler]] = {}
    for klass in service_cls.__mro__:
        for name in vars(klass):
            if name not in seen:
                handlers = getattr(getattr(service_cls, name), "nameko_entrypoints", ())
                seen[name] = [e for e in handlers if isinstance(e, JsonHandler)]
    return [(name, e) for name, found in seen.items() for e in found]


def routes(service_cls) -> list[Route]:
    """The declarations of the service's routes, in the order of ``entrypoints``."""
    return [e.route for _, e in entrypoints(service_cls)]
