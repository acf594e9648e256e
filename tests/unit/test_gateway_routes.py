"""Who may call a route is declared once, on the route (services/gateway/routes.py): the API
document lists it as the operation's x-roles and the handler admits it. Here every documented
operation is asked in-process, the services stubbed, by an anonymous caller and by a caller of
each role: a role the document does not list is refused by the role check, a listed one gets
past it, and an operation the document says needs a sign-in answers 401 without one."""

import pytest
from nameko.testing.services import worker_factory
from nameko.web.handlers import HttpRequestHandler
from werkzeug.routing import Map
from werkzeug.test import Client

from common.errors import Unauthorized
from services.gateway import auth
from services.gateway.http import JsonWsgiApp
from services.gateway.openapi import build
from services.gateway.routes import entrypoints, routes
from services.gateway.service import GatewayService

REFUSED = "您的账号没有权限做这件事。"  # auth.allow's answer to a role the route does not admit
PRINCIPALS = {
    "enterprise": {"username": "e", "role": "enterprise", "palace_id": "p1", "enterprise_id": "e1"},
    "dispatcher": {"username": "d", "role": "dispatcher", "palace_id": "p1"},
    "volunteer": {"username": "v", "role": "volunteer", "palace_id": "p1", "volunteer_id": "v1"},
    "admin": {"username": "a", "role": "admin"},
}


class Stub:
    """A service that answers every call with an empty record."""

    def __getattr__(self, method):
        return lambda *args, **kwargs: {}


class Sessions:
    def principal(self, token, ask):
        if token not in PRINCIPALS:
            raise Unauthorized("登录已过期，请重新登录。")
        return PRINCIPALS[token]

    def ended(self, token):
        pass


class Container:
    """Just enough of nameko's container to run a handler in this green thread."""

    service_cls = GatewayService

    def __init__(self, service):
        self.service = service
        self.shared_extensions = {}

    def spawn_worker(self, entrypoint, args, kwargs, context_data=None, handle_result=None):
        try:
            result, exc_info = getattr(self.service, entrypoint.method_name)(*args, **kwargs), None
        except Exception as exc:  # noqa: BLE001 - answered as the real worker would
            result, exc_info = None, (type(exc), exc, exc.__traceback__)
        handle_result(None, result, exc_info)


@pytest.fixture(scope="module")
def client():
    stubs = {n: Stub() for n in ("orders", "dispatch", "feedback", "accounts", "reporting", "notifications", "audit")}
    service = worker_factory(
        GatewayService,
        config={"AMQP_URI": "memory://", "FEED_SECRET": "secret", "METRICS_TOKEN": ""},
        sessions=Sessions(),
        **stubs,
    )
    container = Container(service)
    url_map = Map()
    for name, entrypoint in entrypoints(GatewayService):
        bound = entrypoint.bind(container, name)
        rule = bound.get_url_rule()
        rule.endpoint = bound
        url_map.add(rule)

    class Server:
        def make_url_map(self):
            return url_map

    client = Client(JsonWsgiApp(Server()))
    client.container = container  # the entrypoints hold it weakly
    return client


DOC = build()
OPERATIONS = [(method.upper(), path, op) for path, ops in DOC["paths"].items() for method, op in ops.items()]


def test_every_http_entrypoint_is_a_declared_route_and_the_document_is_the_documented_ones():
    http_entrypoints = {
        name
        for name in dir(GatewayService)
        for e in getattr(getattr(GatewayService, name), "nameko_entrypoints", ())
        if isinstance(e, HttpRequestHandler)
    }
    declared = entrypoints(GatewayService)
    assert http_entrypoints == {name for name, _ in declared}  # none with nameko's bare @http
    assert all(e.route is not None and e.route.url == e.url and e.route.method == e.method for _, e in declared)
    documented = [r for r in routes(GatewayService) if r.documented]
    assert sorted((m, p) for m, p, _ in OPERATIONS) == sorted((r.method, r.path) for r in documented)
    pages = {r.url for r in routes(GatewayService) if not r.documented}
    assert "/s/<token>" in pages and "/openapi.json" in pages and not any(u.startswith("/api/") for u in pages)
    for method, path, op in OPERATIONS:
        assert set(op["x-roles"]) <= set(auth.ALL) or op["x-roles"] == list(auth.PUBLIC), (method, path)
        assert ("security" in op) == (op["x-roles"] != list(auth.PUBLIC)), (method, path)
        assert op["description"] == "角色: " + ", ".join(op["x-roles"])


@pytest.mark.parametrize("method, path, op", OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_the_roles_in_the_document_are_those_the_route_admits(client, method, path, op):
    url = path.replace("{", "").replace("}", "")  # /api/orders/{order_id} -> /api/orders/order_id
    body = {} if method != "GET" else None

    def ask(token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = client.open(url, method=method, headers=headers, json=body)
        refused = r.status_code == 403 and r.mimetype == "application/json" and r.get_json()["message"] == REFUSED
        return r.status_code, refused

    public = op["x-roles"] == list(auth.PUBLIC)
    assert (ask()[0] == 401) != public
    if public:
        return
    admitted = {role for role in PRINCIPALS if not ask(role)[1]}
    assert admitted == set(op["x-roles"])


def test_a_new_route_is_one_declaration_files_included():
    from contracts import payloads as p
    from services.gateway.routes import XLSX, route

    class Imports:
        @route(
            "POST /api/imports/volunteers",
            tag="调度",
            summary="志愿者列表",
            body=XLSX,
            status=201,
            response=[p.Volunteer],
            query=("palace_id",),
            roles=auth.STAFF,
        )
        def import_volunteers(self, request):
            return []

        @route("GET /api/exports/volunteers.xlsx", tag="调度", summary="志愿者列表", response=XLSX, roles=auth.STAFF)
        def export_volunteers(self, request):
            return b""

    doc = build(Imports)
    post = doc["paths"]["/api/imports/volunteers"]["post"]
    assert post["requestBody"]["content"] == {XLSX: {"schema": {"type": "string", "format": "binary"}}}
    assert post["responses"]["201"]["content"]["application/json"]["schema"]["type"] == "array"
    assert post["x-roles"] == ["dispatcher", "admin"] and post["parameters"][0]["name"] == "palace_id"
    get = doc["paths"]["/api/exports/volunteers.xlsx"]["get"]
    assert list(get["responses"]["200"]["content"]) == [XLSX] and "requestBody" not in get
    with pytest.raises(TypeError):
        route("GET /api/undocumented", roles=auth.ALL)  # a documented route says what it is
