"""The chart page in headless Chromium against gunicorn's workers and stored candles."""

import json
import random
import signal
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.artifacts import artifact
from tests.conftest import API_KEY
from tests.gunicornserver import Served, gunicorn
from tests.helpers import rows
from tests.redisserver import redis_server
from tests.webdriver import Browser, chromium

pytestmark = pytest.mark.slow  # gunicorn and Chromium
# Bars stored per series, and their prices' decimal places; EURUSD M1 needs three pages.
SERIES = {("EURUSD", "M1"): (2600, 5), ("GBPUSD", "H1"): (300, 5), ("XAUUSD", "D1"): (40, 2)}
SECONDS = {"M1": 60, "H1": 3600, "D1": 86400}
START = 1_704_067_200  # 2024-01-01T00:00:00Z
PAGE = 1000  # chart.js's PAGE
UP, DOWN = "#26a69a", "#ef5350"  # chart.js's candle colours
PAGE_STATE = "const s = window.candlesvcPage?.state;"
KEPT = "sessionStorage.getItem('candlesvc.api-key'), localStorage.length, document.cookie"


def walk(symbol: str, timeframe: str, count: int, places: int) -> list[dict[str, Any]]:
    """`count` bars of a random walk, one per period from 2024-01-01, prices as decimal text."""
    tick, rng = Decimal(1).scaleb(-places), random.Random(symbol)
    price = Decimal(2000 if places == 2 else 1).quantize(tick)
    bars = []
    for i in range(count):
        close = price + rng.randint(-30, 30) * tick
        at = datetime.fromtimestamp(START + i * SECONDS[timeframe], UTC)
        bars.append(
            {
                "symbol": symbol,
                "timeframe": timeframe,
                "timestamp": f"{at:%Y-%m-%dT%H:%M:%SZ}",
                "open": str(price),
                "high": str(max(price, close) + rng.randint(0, 9) * tick),
                "low": str(min(price, close) - rng.randint(0, 9) * tick),
                "close": str(close),
                "volume": rng.randint(1, 500),
            }
        )
        price = close
    return bars


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[Served]:
    """gunicorn with three workers, the series of SERIES stored through it."""
    with gunicorn(env, log, workers=3) as server:
        for (symbol, timeframe), (count, places) in SERIES.items():
            body = json.dumps({"candles": walk(symbol, timeframe, count, places)}).encode()
            headers = {"Content-Type": "application/json", "X-API-KEY": API_KEY}
            url = f"http://127.0.0.1:{server.port}/api/v1/candles"
            post = urllib.request.Request(url, body, headers)
            with urllib.request.urlopen(post, timeout=30) as answer:
                assert json.load(answer)["records_added"] == count
        yield server


@pytest.fixture
def served(app_env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    """The service with stored candles."""
    with serving(app_env, tmp_path / "gunicorn.log") as server:
        yield server


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """Headless Chromium with a new, empty profile."""
    with chromium(tmp_path) as started:
        yield started


def stored(db: psycopg.Connection[Any], symbol: str, timeframe: str) -> list[list[Any]]:
    """The stored bars of a series as the chart holds them: [time, o, h, l, c, volume]."""
    return [
        [int(r[2].timestamp()), *map(float, r[3:7]), r[7]]
        for r in rows(db)
        if (r[0], r[1]) == (symbol, timeframe)
    ]


def drawn(browser: Browser) -> list[list[Any]]:
    """The bars the chart's two series hold, as [time, o, h, l, c, volume]."""
    return browser.run(
        "const { candles, volume } = window.candlesvcPage;"
        "const v = new Map(volume.data().map((b) => [b.time, b.value]));"
        "return candles.data().map((b) => [b.time, b.open, b.high, b.low, b.close, v.get(b.time)]);"
    )


# Each visible bar's body centre, as the chart's own screenshot has it, and whether the
# window shows the chart there: [time, colour seen or 'hidden', colour due]. Bodies under
# 3 px, and the row of the last price's dashed line, are left out.
BODY_PIXELS = f"""
const {{ chart, candles }} = window.candlesvcPage;
const canvas = chart.takeScreenshot();
const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
const ratio = window.devicePixelRatio;
const box = document.getElementById('chart').getBoundingClientRect();
const data = candles.data();
const line = candles.priceToCoordinate(data[data.length - 1].close);
const range = chart.timeScale().getVisibleLogicalRange();
const found = [];
for (let i = Math.max(0, Math.ceil(range.from)); i <= Math.min(data.length - 1, range.to); i++) {{
  const bar = data[i];
  const top = candles.priceToCoordinate(Math.max(bar.open, bar.close));
  const bottom = candles.priceToCoordinate(Math.min(bar.open, bar.close));
  const y = (top + bottom) / 2;
  if (bottom - top < 3 || Math.abs(y - line) < 2) continue;
  const x = chart.timeScale().timeToCoordinate(bar.time);
  const at = 4 * (Math.round(y * ratio) * canvas.width + Math.round(x * ratio));
  const [r, g, b] = pixels.slice(at, at + 3);
  const seen = '#' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
  const shown = document.elementFromPoint(box.left + x, box.top + y)?.closest('#chart canvas');
  found.push([bar.time, shown ? seen : 'hidden', bar.close >= bar.open ? '{UP}' : '{DOWN}']);
}}
return found;
"""


def assert_bodies_drawn(browser: Browser) -> None:
    """Every visible candle's body shows its colour where the chart placed it."""
    bodies = browser.run(BODY_PIXELS)
    assert len(bodies) >= 50, bodies
    assert [b for b in bodies if b[1] != b[2]] == []


def error(browser: Browser, beginning: str) -> str:
    """Wait for the page's error message that starts with `beginning`; the whole message."""
    shown = "const m = document.querySelector('#status[data-kind=error]')?.innerText;"
    return browser.wait(f"{shown} return m?.startsWith(arguments[0]) && m;", 10, beginning)


def enter(browser: Browser, css: str, text: str) -> None:
    """Type into a field as a user does; end `text` with Enter (\\ue007) or Tab (\\ue004)."""
    browser.type(browser.find(css), text)


def test_without_a_key_the_page_shows_no_data_and_the_api_refuses(served, browser):
    browser.open(f"http://127.0.0.1:{served.port}/")
    browser.wait(f"{PAGE_STATE} return s && s.zone === 'UTC';")
    assert "Enter an API key" in browser.run("return document.body.innerText;")
    assert browser.run("return document.querySelectorAll('#series option').length;") == 0
    assert drawn(browser) == []
    status = "return fetch('api/v1/series', { headers: arguments[0] }).then((r) => r.status);"
    assert browser.run(status, {}) == 401
    assert browser.run(status, {"X-API-KEY": API_KEY}) == 200

    enter(browser, "#key", "a-wrong-key-" + "w" * 32 + "\ue007")
    error(browser, "The service refused the key (401: invalid API key).")
    assert browser.run(f"return [{KEPT}];") == [None, 0, ""]
    assert drawn(browser) == []


def test_the_page_draws_the_stored_candles_and_pages_back_as_the_user_pans(served, browser, db):
    browser.open(f"http://127.0.0.1:{served.port}/")
    enter(browser, "#key", API_KEY + "\ue007")
    loaded = f"{PAGE_STATE} return s.series && !s.loading && s.pages === arguments[0];"
    browser.wait(loaded, 15, 1)
    options = browser.run(
        "return [...document.querySelectorAll('#series option')].map(o => o.text);"
    )
    assert options == [f"{s} {tf} ({n} bars)" for (s, tf), (n, _) in SERIES.items()]
    assert browser.run(f"return [{KEPT}];") == [API_KEY, 0, ""]  # in this tab's session only

    pick(browser, "GBPUSD H1")
    browser.wait(loaded, 15, 1)
    assert drawn(browser) == stored(db, "GBPUSD", "H1")
    pick(browser, "EURUSD M1")
    browser.wait(loaded, 15, 1)
    eurusd = stored(db, "EURUSD", "M1")
    assert drawn(browser) == eurusd[-PAGE:]
    newest = browser.run("return window.candlesvcPage.chart.timeScale().getVisibleRange().to;")
    assert newest == eurusd[-1][0]  # the newest bar is in view
    assert_bodies_drawn(browser)
    print(f"screenshot: {browser.screenshot(artifact('chart-page.png'))}")

    pan_back_until(browser, f"{PAGE_STATE} return s.pages === 2 && !s.loading;")
    assert drawn(browser) == eurusd[-2 * PAGE :]
    pan_back_until(browser, f"{PAGE_STATE} return s.exhausted && !s.loading;")
    assert drawn(browser) == eurusd  # every stored bar once, in time order
    assert browser.run(f"{PAGE_STATE} return s.pages;") == 3
    assert_bodies_drawn(browser)

    choose_zone(browser, eurusd[0][0])
    print(f"screenshot: {browser.screenshot(artifact('chart-page-paged-back.png'))}")
    browser.click(browser.find("#forget"))
    assert drawn(browser) == []
    assert browser.run(f"return [{KEPT}];") == [None, 0, ""]
    assert browser.console() == []  # no script error, no refusal by the page's policy


def pick(browser: Browser, series: str) -> None:
    """Choose a series in the picker, as a user clicks it."""
    option = browser.run(
        "return [...document.querySelectorAll('#series option')]"
        ".find((o) => o.text.startsWith(arguments[0]));",
        series,
    )
    browser.click(option)


def pan_back_until(browser: Browser, done: str, drags: int = 40) -> None:
    """Drag the chart rightwards (towards older bars) until `done` holds; at most `drags`."""
    chart = browser.find("#chart")
    deadline = time.monotonic() + 60
    for _ in range(drags):
        if browser.run(done) or time.monotonic() > deadline:
            break
        browser.drag(chart, 800)
        time.sleep(0.2)
    browser.wait(done, 10)


def choose_zone(browser: Browser, first: int) -> None:
    """Type a zone: the crosshair's and the axis's labels follow it; an unknown one is refused."""
    zone = "America/New_York"
    enter(browser, "#zone", zone + "\ue004")
    browser.wait(f"{PAGE_STATE} return s.zone === arguments[0];", 5, zone)
    labels = browser.run(
        "const { localization, timeScale } = window.candlesvcPage.chart.options();"
        "const [time, tick] = [arguments[0], timeScale.tickMarkFormatter];"
        "return [localization.timeFormatter(time), tick(time, 2), tick(time, 3)];",
        first,
    )
    local = datetime.fromtimestamp(first, UTC).astimezone(ZoneInfo(zone))
    assert labels == [
        local.strftime("%Y-%m-%d %H:%M"),
        f"{local.day} {local:%b %H:%M}",
        local.strftime("%H:%M"),
    ]
    assert zone in browser.run("return document.querySelector('#legend').innerText;")
    enter(browser, "#zone", "Mars/Olympus_Mons\ue004")
    error(browser, '"Mars/Olympus_Mons" is not a time zone')
    assert browser.run(f"{PAGE_STATE} return s.zone;") == zone


def test_the_page_says_why_when_the_service_limits_it_or_does_not_answer(
    app_env, browser, tmp_path
):
    with redis_server() as url:
        env = app_env | {"RATE_LIMIT": "5/hour", "RATE_LIMIT_STORAGE_URI": url}
        with serving(env, tmp_path / "gunicorn.log") as server:  # three of the five requests
            browser.open(f"http://127.0.0.1:{server.port}/")
            enter(browser, "#key", API_KEY + "\ue007")  # the series, then EURUSD M1's newest
            browser.wait(f"{PAGE_STATE} return s.pages === 1 && !s.loading;")
            pick(browser, "GBPUSD H1")
            message = error(browser, "Too many requests (429): over the rate limit (5/hour)")
            assert "retry in" in message
            assert drawn(browser) == []  # not EURUSD's bars under GBPUSD's name
            assert browser.run(f"return [{KEPT}];") == [API_KEY, 0, ""]  # the key is fine

            server.process.send_signal(signal.SIGTERM)
            server.process.wait(timeout=30)
            pick(browser, "XAUUSD D1")
            error(browser, "The service did not answer")
