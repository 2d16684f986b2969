"""The chart page: its own files only, with headers fit for a page that holds a key."""

import hashlib
import re
from html.parser import HTMLParser

import pytest

from candlesvc.service.page import STATIC

VENDOR = STATIC / "vendor" / "lightweight-charts"


def get(client, path):
    """GET `path`, its body read and its file closed (a served file is streamed)."""
    response = client.get(path)
    response.get_data()
    response.close()
    return response


class References(HTMLParser):
    """The files a page loads, and any inline script, style or event handler it has."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "style" or (tag == "script" and not found.get("src")):
            self.inline.append(tag)
        self.inline += [name for name in found if name.startswith("on") or name == "style"]
        if tag in ("script", "link") and (src := found.get("src") or found.get("href")):
            self.loads.append(src)
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script" and data.strip():
            self.inline.append("script text")


def test_the_page_needs_no_key_and_holds_no_data(client):
    response = get(client, "/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.data == (STATIC / "index.html").read_bytes()  # the same static file
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path", ["/", "/static/chart.js", "/static/vendor/lightweight-charts/NOTICE", "/static/x.js"]
)
def test_the_page_and_its_files_forbid_inline_script_framing_sniffing_and_referrers(client, path):
    headers = get(client, path).headers
    policy = dict(
        part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == policy["base-uri"] == policy["form-action"] == "'none'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_the_page_has_no_inline_code_and_every_file_it_loads_is_served(client):
    page = References()
    page.feed(get(client, "/").text)
    assert page.inline == []
    script = (STATIC / "chart.js").read_text()
    imported = re.findall(r"from '\./(.+)';", script)
    assert imported == ["vendor/lightweight-charts/lightweight-charts.standalone.production.mjs"]
    loads = [*page.loads, *(f"static/{name}" for name in imported)]
    types = {
        "static/favicon.svg": "image/svg+xml",
        "static/chart.css": "text/css",
        "static/chart.js": "text/javascript",
        f"static/{imported[0]}": "text/javascript",  # a module script needs a script type
    }
    assert sorted(loads) == sorted(types)
    for path, mimetype in types.items():
        response = get(client, f"/{path}")
        assert (response.status_code, response.mimetype) == (200, mimetype), path
        assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("path", ["/static/../page.py", "/static/%2e%2e/page.py", "/static/no.js"])
def test_nothing_but_the_page_files_is_served(client, path):
    response = get(client, path)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_the_vendored_library_is_the_file_its_note_names_with_its_licence_and_notice():
    note = (VENDOR / "VENDOR.md").read_text()
    named = dict(re.findall(r"\| `([^`]+)`[^|]*\|[^|]*\| `([0-9a-f]{64})` \|", note))
    assert set(named) == {"lightweight-charts.standalone.production.mjs", "LICENSE", "NOTICE"}
    for name, digest in named.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (VENDOR / "LICENSE").read_text()
    assert "TradingView" in (VENDOR / "NOTICE").read_text()
    library = (VENDOR / "lightweight-charts.standalone.production.mjs").read_text()
    assert "TradingView Lightweight Charts™ v5.2.1" in library
    assert "# TradingView Lightweight Charts™ 5.2.1, vendored" in note
