"""RFC 9457 problem responses."""

from http import HTTPStatus

from flask import Response, g
from pydantic import BaseModel, Field, ValidationError

PROBLEM_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One validation problem and where it is."""

    loc: str = Field(examples=["candles[3].high"])
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem detail; `errors` lists validation problems (422 only)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    request_id: str | None = None
    errors: list[FieldError] | None = None
    error_count: int | None = None


def problem(
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
    error_count: int | None = None,
) -> Response:
    """Build an application/problem+json response."""
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        request_id=g.get("request_id"),
        errors=errors,
        error_count=error_count,
    )
    return Response(
        body.model_dump_json(exclude_none=True), status, headers or {}, mimetype=PROBLEM_TYPE
    )


def field_errors(error: ValidationError, most: int | None = None) -> list[FieldError]:
    """The model's complaints (the first `most`), each with its place, e.g. candles[3].high."""
    found = error.errors(include_url=False, include_input=False)[:most]
    return [FieldError(loc=location(e["loc"]), msg=e["msg"], type=e["type"]) for e in found]


def location(loc: tuple[int | str, ...]) -> str:
    """Render ('candles', 3, 'high') as candles[3].high and ('pair', 1, 0) as pair[1][0]."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


class RejectedError(Exception):
    """A request the service refuses, carrying the problem response to send."""

    def __init__(self, response: Response) -> None:
        self.response = response
