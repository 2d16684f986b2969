"""The OpenAPI document, with schemas generated from the pydantic models."""

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from candlesvc import __version__
from candlesvc.models import CandleBatch, IngestResult
from candlesvc.problems import Problem

_REF = "#/components/schemas/{model}"


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}},
    }


def _json(description: str, model: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
    }


def _health(description: str) -> dict[str, Any]:
    return {"get": {"summary": description, "responses": {"200": {"description": "ok"}}}}


@cache
def openapi_document() -> dict[str, Any]:
    """Build the OpenAPI 3.1 description of the service."""
    _, schemas = models_json_schema(
        [(CandleBatch, "validation"), (IngestResult, "serialization"), (Problem, "serialization")],
        ref_template=_REF,
    )
    ingest = {
        "summary": "Store a batch of candles",
        "security": [{"ApiKey": []}],
        "parameters": [
            {
                "name": "on_conflict",
                "in": "query",
                "description": "ignore: keep stored bars (first in a batch wins); update: "
                "replace stored bars whose values differ (last in a batch wins)",
                "schema": {"type": "string", "enum": ["ignore", "update"], "default": "ignore"},
            }
        ],
        "requestBody": {"required": True, **_json("the candles", "CandleBatch")},
        "responses": {
            "201": _json("stored; duplicates ignored and counted", "IngestResult"),
            "401": _problem("missing or invalid API key"),
            "413": _problem("body or batch too large"),
            "415": _problem("not application/json"),
            "422": _problem("malformed JSON or invalid candles; nothing stored"),
            "503": _problem("database unavailable; see Retry-After"),
        },
    }
    ready = _health("Database reachable")
    ready["get"]["responses"]["503"] = {"description": "database unreachable"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "candlesvc", "version": __version__},
        "paths": {
            "/api/v1/candles": {"post": ingest},
            "/health": _health("Process alive"),
            "/health/ready": ready,
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"}},
        },
    }
