"""GET /api/v1/openapi.json: the API described from the routes themselves (guards and docstrings)."""

from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web

from bot import __version__
from bot.web import fields, params

PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def describe(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or not resource.canonical.startswith("/api/v1/"):
            continue
        path = PARAM.sub(r"{\1}", resource.canonical)
        doc = inspect.getdoc(route.handler) or ""
        summary, _, description = doc.partition("\n")
        role = getattr(route.handler, "required_role", None)
        operation: dict[str, Any] = {
            "summary": summary or route.handler.__name__,
            "operationId": f"{route.method.lower()}_{route.handler.__name__}_{len(paths)}",
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "4XX": {"description": "refused", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
        if description.strip():
            operation["description"] = description.strip()
        if role is not None:
            operation["security"] = [{"bearer": []}]
            operation["x-required-role"] = role
        declared = params.declared(route.handler)
        parameters = [{"name": name, "in": "path", "required": True, "schema": (
            {"type": "integer", "minimum": 1, "maximum": fields.MAX_ID} if name == "id" else {"type": "string"})}
            for name in PARAM.findall(resource.canonical)]
        if declared is not None and declared.query is not None:
            parameters += declared.query.describe()
        if parameters:
            operation["parameters"] = parameters
        if declared is not None and declared.body is not None:
            operation["requestBody"] = {"required": not declared.body_optional, "content": {
                "application/json": {"schema": declared.body.described()}}}
        elif route.method in ("POST", "PUT", "PATCH"):
            operation["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "nongbot API", "version": __version__,
                 "description": (
                     "Officer API: bearer tokens from `nongbot token create`; roles officer < supervisor < admin. "
                     "Query parameters and bodies are checked against the schemas below (JSON at most "
                     f"{params.MAX_JSON_BYTES // 1024} KiB, nested at most {params.MAX_JSON_DEPTH} deep); "
                     "what does not fit is refused with 400 {\"error\": \"…\"} in plain Chinese.")},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}}}},
        },
    }


async def spec(request: web.Request) -> web.Response:
    """This document."""
    return web.json_response(describe(request.app))
