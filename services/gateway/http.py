"""JSON over nameko's HTTP entrypoint: every answer is JSON, every error a clear one.

nameko's own web server answers unknown routes and wrong methods with werkzeug's HTML pages and
unexpected errors with a text trace; here they become {"code", "message"} with a Chinese message.
"""

from __future__ import annotations

import json
import logging

import eventlet
from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Request, Response

from common.errors import N_, Invalid, ServiceError, Throttled, Unavailable
from common.rpc import UNAVAILABLE
from services.gateway import i18n

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
RPC_TIMEOUT = 15

HTTP_MESSAGES = {
    404: ("NOT_FOUND", N_("找不到这个地址。")),
    405: ("METHOD_NOT_ALLOWED", N_("这个地址不支持该请求方法。")),
    413: ("TOO_LARGE", N_("提交的内容太大（上限 1 MB）。")),
}


class Acting(DependencyProvider):
    """Says who is acting in a request, once the gateway knows: nameko sends a worker's context
    data with every RPC it makes (and the services with theirs), so the services' stores put
    the person in the events of the changes they make (``common.store.Acting``)."""

    def get_dependency(self, worker_ctx):
        def acting(principal: dict, address: str) -> None:
            actor = {
                "username": principal["username"],
                "role": principal["role"],
                "palace_id": principal.get("palace_id"),
                "address": address,
            }
            worker_ctx.data["actor"] = {k: v for k, v in actor.items() if v is not None}

        return acting


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False),
        status=status,
        headers=headers,
        content_type="application/json; charset=utf-8",
    )


def error_response(exc: BaseException) -> Response:
    if isinstance(exc, ServiceError):
        wait = exc.retry_after if isinstance(exc, Throttled) else None
        response = json_response(exc.to_dict(), exc.status, {"Retry-After": str(wait)} if wait is not None else None)
        response.error = exc  # said again in the reader's language, from its template and values
        return response
    if isinstance(exc, HTTPException) and exc.code in HTTP_MESSAGES:
        code, message = HTTP_MESSAGES[exc.code]
        headers = (
            {"Allow": ", ".join(exc.valid_methods)} if isinstance(exc, MethodNotAllowed) and exc.valid_methods else None
        )
        return json_response({"code": code, "message": message}, exc.code, headers)
    log.error("unexpected error: %r", exc, exc_info=(type(exc), exc, exc.__traceback__))
    return json_response({"code": "INTERNAL", "message": N_("服务暂时出错，请稍后再试。")}, 500)


class BadJson(ServiceError):
    status = 400
    default_code = "BAD_JSON"


class TooLarge(ServiceError):
    status = 413
    default_code = "TOO_LARGE"


class JsonWsgiApp(WsgiApp):
    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        try:
            provider, values = self.url_map.bind_to_environ(environ).match()
            request.path_values = values
            response = provider.handle_request(request)
        except RequestRedirect as redirect:  # a missing trailing slash: let the client follow
            response = redirect
        except Exception as exc:  # noqa: BLE001 - never a trace or an HTML page to the client
            response = error_response(exc)
        if response.status_code >= 400 and response.mimetype == "application/json":
            lang = i18n.pick(request)
            if lang != i18n.DEFAULT:  # errors in the reader's language
                error = getattr(response, "error", None)
                if isinstance(error, ServiceError):
                    response.set_data(json.dumps(i18n.error_payload(error, lang), ensure_ascii=False))
                else:
                    translated = i18n.translate_json_error(response.get_data(), lang)
                    if translated is not None:
                        response.set_data(translated)
        return response(environ, start_response)


class JsonWebServer(WebServer):
    def get_wsgi_app(self):
        return JsonWsgiApp(self)


class JsonHandler(HttpRequestHandler):
    """nameko's HTTP entrypoint with the route's declaration (services/gateway/routes.py), which
    each request carries as ``request.route`` to the handler: its roles, its query parameters.
    A handler's result is answered with the declared status unless it returns (status, result)."""

    server = JsonWebServer()

    def __init__(self, method, url, route=None, **kwargs):
        kwargs.setdefault("expected_exceptions", (ServiceError,))
        self.route = route
        super().__init__(method, url, **kwargs)

    def handle_request(self, request):
        request.route = self.route
        return super().handle_request(request)

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        status = self.route.status if self.route else 200
        if isinstance(result, tuple):
            status, result = result
        return json_response(result, status)

    def response_from_exception(self, exc):
        return error_response(exc)


def body(request, *, required: bool = True) -> dict:
    """The request's JSON object; a clear 400 when it is not one, 413 when too large."""
    if request.content_length and request.content_length > MAX_BODY:
        raise TooLarge("提交的内容太大（上限 1 MB）。")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise TooLarge("提交的内容太大（上限 1 MB）。")
    if not raw.strip():
        if required:
            raise BadJson("请求内容不是有效的 JSON 对象。")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadJson("请求内容不是有效的 JSON 对象。") from None
    if not isinstance(data, dict):
        raise BadJson("请求内容不是有效的 JSON 对象。")
    return data


def query(request, allowed: tuple[str, ...] | None = None) -> dict:
    """The query parameters, refused when one is not of ``allowed`` (by default the route's own)."""
    if allowed is None:
        allowed = request.route.query
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise Invalid("查询参数有误。", fields={k: [N_("不认识的查询参数。")] for k in unknown})
    return {k: v for k, v in request.args.items() if v != ""}


def call(method, *args, timeout: float = RPC_TIMEOUT, **kwargs):
    """An RPC with a deadline: a service that does not answer becomes a 503, not a hang."""
    try:
        with eventlet.Timeout(timeout):
            return method(*args, **kwargs)
    except UNAVAILABLE:  # no answer in time, or the broker refused the call (its node just went)
        raise Unavailable("服务暂时不可用，请稍后再试。") from None
