"""The OpenAPI document, with schemas generated from the pydantic models."""

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from candlesvc import __version__
from candlesvc.model.candle import CandleBatch, IngestResult
from candlesvc.service.answers import CandlePage, Catalogue, Gaps, Latest, LatestPairs
from candlesvc.service.problems import Problem
from candlesvc.service.queries import (
    GapsQuery,
    LatestPairsQuery,
    LatestQuery,
    ListQuery,
    SeriesQuery,
)

_REF = "#/components/schemas/{model}"
_OVER_LIMIT = "over RATE_LIMIT (per key, or per address without a valid key); see Retry-After"


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


def _query_parameters(*models: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI query parameters generated from query models (required only with one model)."""
    parameters: dict[str, dict[str, Any]] = {}
    for model in models:
        schema = model.model_json_schema(mode="validation")
        for name, prop in schema["properties"].items():
            options = [p for p in prop.pop("anyOf", []) if p.get("type") != "null"]
            prop |= options[0] if options else {}
            parameters.setdefault(
                name,
                {
                    "name": name,
                    "in": "query",
                    "description": prop.pop("description", ""),
                    "required": len(models) == 1 and name in schema.get("required", []),
                    "schema": prop,
                },
            )
    return list(parameters.values())


def _read_paths() -> dict[str, Any]:
    """GET /api/v1/candles and GET /api/v1/candles/latest."""
    common = {
        "401": _problem("missing or invalid API key"),
        "422": _problem("invalid query parameters; errors name each one"),
        "429": _problem(_OVER_LIMIT),
        "503": _problem("database unavailable; see Retry-After"),
    }
    listing = _json("bars in time order, up to limit", "CandlePage")
    listing["content"]["text/csv"] = {
        "schema": {"type": "string"},
        "description": "header row, then symbol,timeframe,timestamp,open,high,low,close,volume; "
        "the next cursor is in the X-Next-Cursor header",
    }
    either = {"oneOf": [{"$ref": _REF.format(model=m)} for m in ("Latest", "LatestPairs")]}
    return {
        "list": {
            "summary": "Stored bars of one symbol and timeframe, paged by cursor",
            "security": [{"ApiKey": []}],
            "parameters": _query_parameters(ListQuery),
            "responses": {"200": listing, **common},
        },
        "series": {
            "summary": "Every stored series: first and last bar, exact bar count",
            "security": [{"ApiKey": []}],
            "parameters": _query_parameters(SeriesQuery),
            "responses": {"200": _json("the series, in symbol order", "Catalogue"), **common},
        },
        "gaps": {
            "summary": "Where bars are missing in one series, on the broker's clock",
            "security": [{"ApiKey": []}],
            "parameters": _query_parameters(GapsQuery),
            "responses": {"200": _json("the gaps, oldest first", "Gaps"), **common},
        },
        "latest": {
            "summary": "The newest stored bar: symbol= and timeframe=, or pair= repeated",
            "security": [{"ApiKey": []}],
            "parameters": _query_parameters(LatestQuery, LatestPairsQuery),
            "responses": {
                "200": {
                    "description": "Latest for symbol= and timeframe=; LatestPairs for pair=",
                    "content": {"application/json": {"schema": either}},
                },
                "404": _problem("nothing stored for symbol= and timeframe="),
                **common,
            },
        },
    }


def _health(description: str) -> dict[str, Any]:
    return {"get": {"summary": description, "responses": {"200": {"description": "ok"}}}}


@cache
def openapi_document() -> dict[str, Any]:
    """Build the OpenAPI 3.1 description of the service."""
    outputs: list[type[BaseModel]] = [
        IngestResult,
        Problem,
        Latest,
        LatestPairs,
        CandlePage,
        Catalogue,
        Gaps,
    ]
    _, schemas = models_json_schema(
        [(CandleBatch, "validation"), *((model, "serialization") for model in outputs)],
        ref_template=_REF,
    )
    reads = _read_paths()
    ingest = {
        "summary": "Store a batch of candles",
        "security": [{"ApiKey": []}],
        "parameters": [
            {
                "name": "on_conflict",
                "in": "query",
                "description": "ignore: keep stored bars (first in a batch wins); update: "
                "replace stored bars whose values differ, unless the new bar has a smaller "
                "tick volume (last in a batch wins)",
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
            "429": _problem(_OVER_LIMIT),
            "503": _problem("database unavailable; see Retry-After"),
        },
    }
    ready = _health("Database reachable, and the service's role may write candles")
    ready["get"]["responses"]["503"] = {
        "description": "database unreachable, or the service's role cannot write (logged)"
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "candlesvc", "version": __version__},
        "paths": {
            "/api/v1/candles": {"post": ingest, "get": reads["list"]},
            "/api/v1/candles/latest": {"get": reads["latest"]},
            "/api/v1/series": {"get": reads["series"]},
            "/api/v1/series/gaps": {"get": reads["gaps"]},
            "/health": _health("Process alive"),
            "/health/ready": ready,
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"}},
        },
    }
