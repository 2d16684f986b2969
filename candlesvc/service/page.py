"""The chart page: static files only; its script fetches every candle from /api/ with a key."""

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

bp = Blueprint("page", __name__)
STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
# Only the page's own files: no inline script or style, no other origin, no framing.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@bp.get("/")
def index() -> Response:
    """The chart page."""
    return asset("index.html")


@bp.get("/static/<path:name>")
def asset(name: str) -> Response:
    """A file of the page: the HTML never cached, the rest revalidated on each use."""
    suffix = Path(name).suffix
    response = send_from_directory(STATIC, name, mimetype=TYPES.get(suffix, "text/plain"))
    response.headers["Cache-Control"] = "no-store" if suffix == ".html" else "no-cache"
    return response


@bp.after_request
def _secure(response: Response) -> Response:
    """Headers fit for a page that holds an API key."""
    response.headers.update(HEADERS)
    return response
