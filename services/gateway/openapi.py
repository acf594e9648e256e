"""The OpenAPI 3 document of the HTTP API, generated from the routes' declarations
(services/gateway/routes.py) and the contracts' marshmallow schemas."""

from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from common.messages import N_
from contracts import payloads as p
from services.gateway import auth
from services.gateway.routes import Route, routes


def _name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__


ERRORS = {
    "400": N_("提交的内容有误（字段说明见 fields）"),
    "401": N_("未登录或登录已过期"),
    "403": N_("没有权限"),
    "404": N_("找不到"),
    "409": N_("当前状态下不能这样做"),
    "413": N_("提交的内容太大"),
    "429": N_("提交太频繁（评议表按评议和按客户端限流）"),
    "503": N_("服务暂时不可用"),
}

QUERY_TYPES = {
    "page": {"type": "integer", "minimum": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
    "start": {"type": "string"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 500},
    "months": {"type": "integer", "minimum": 1, "maximum": 36},
}
ROLES = "角色"


def build(service_cls=None) -> dict:
    """The document of ``service_cls`` (by default the gateway) from its routes."""
    if service_cls is None:
        from services.gateway.service import GatewayService as service_cls
    spec = APISpec(
        title=N_("送文化下基层 API"),
        version="1.0.0",
        openapi_version="3.0.3",
        info={
            "description": N_(
                "企业工会点单、文化宫调度、志愿者服务、观众评议。所有错误都以 JSON 返回：code、message、fields（默认中文；Accept-Language: en 时为英文）。"
            )
        },
        plugins=[MarshmallowPlugin(schema_name_resolver=_name)],
    )
    spec.components.schema("Error", schema=p.Error)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    paths: dict[str, dict] = {}
    for route in routes(service_cls):
        if route.documented:
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(spec, route)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(spec: APISpec, route: Route) -> dict:
    path = route.path
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in re.findall(r"{(\w+)}", path)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": QUERY_TYPES.get(name, {"type": "string"})}
        for name in route.query
    ]
    if isinstance(route.response, str):  # a file, an image, a calendar: not JSON
        content = {route.response: {"schema": {"type": "string"}}}
    else:
        body_schema = {"$ref": f"#/components/schemas/{_register(spec, route.response)}"}
        if route.many:
            body_schema = {"type": "array", "items": body_schema}
        content = {"application/json": {"schema": body_schema}}
    operation = {
        "tags": [route.tag],
        "summary": route.summary,
        "description": f"{ROLES}: {', '.join(route.roles)}",
        "x-roles": list(route.roles),
        "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
        "parameters": parameters,
        "responses": {
            str(route.status): {"description": N_("成功"), "content": content},
            **{
                code: {
                    "description": text,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for code, text in ERRORS.items()
            },
        },
    }
    if route.roles != auth.PUBLIC:
        operation["security"] = [{"bearer": []}]
    if isinstance(route.body, str):  # a file sent as it is, e.g. a workbook to import
        operation["requestBody"] = {
            "required": True,
            "content": {route.body: {"schema": {"type": "string", "format": "binary"}}},
        }
    elif route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{_register(spec, route.body)}"}}
            },
        }
    return operation


def _register(spec: APISpec, schema) -> str:
    name = _name(schema)
    if name not in spec.components.schemas:
        spec.components.schema(name, schema=schema)
    return name
