"""Headless Chromium driven through chromedriver's W3C WebDriver HTTP API, over urllib."""

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from candlesvc.store.localdb import free_port
from tests.programs import require

# As root, and with no network but the service's: no sandbox, no background connections.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,640",
]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
Element = dict[str, str]


class WebDriverError(Exception):
    """A command that chromedriver refused or could not carry out."""


def call(url: str, method: str = "GET", body: Any = None, timeout: float = 30) -> Any:
    """One WebDriver command; its `value`."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.load(answer)["value"]
    except urllib.error.HTTPError as error:
        value = json.load(error)["value"]
        raise WebDriverError(f"{value['error']}: {value['message']}") from None


class Browser:
    """One WebDriver session."""

    def __init__(self, url: str) -> None:
        self.url = url

    def command(self, method: str, path: str, body: Any = None) -> Any:
        """Send a command to this session."""
        return call(self.url + path, method, {} if body is None and method == "POST" else body)

    def open(self, url: str) -> None:
        """Load a page and wait for it."""
        self.command("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run a function body in the page; what it returns (awaited, if a promise)."""
        return self.command("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css: str) -> Element:
        """The first element matching `css`."""
        found: Element = self.command("POST", "/element", {"using": "css selector", "value": css})
        return found

    def click(self, element: Element) -> None:
        """Click an element as a user would."""
        self.command("POST", f"/element/{element[ELEMENT]}/click")

    def type(self, element: Element, text: str) -> None:
        """Clear an element, then type into it as a user would."""
        self.command("POST", f"/element/{element[ELEMENT]}/clear")
        self.command("POST", f"/element/{element[ELEMENT]}/value", {"text": text})

    def drag(self, element: Element, dx: int) -> None:
        """Press the mouse dx/2 left of an element's centre, move it dx right, release."""
        mouse = {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}}
        step = {"type": "pointerMove", "origin": "pointer", "x": dx // 4, "y": 0, "duration": 50}
        steps = [
            {"type": "pointerMove", "origin": element, "x": -dx // 2, "y": 0, "duration": 0},
            {"type": "pointerDown", "button": 0},
            *[step] * 4,
            {"type": "pointerUp", "button": 0},
        ]
        self.command("POST", "/actions", {"actions": [mouse | {"actions": steps}]})

    def screenshot(self, path: Path) -> Path:
        """Save what the window shows as a PNG."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.command("GET", "/screenshot")))
        return path

    def console(self) -> list[str]:
        """The messages the page has logged (errors, CSP refusals) since the last call."""
        return [
            f"{e['level']}: {e['message']}"
            for e in self.command("POST", "/se/log", {"type": "browser"})
        ]

    def wait(self, script: str, seconds: float = 15, *args: Any) -> Any:
        """Run `script` until it returns something true, at most `seconds`; that value."""
        deadline = time.monotonic() + seconds
        while not (value := self.run(script, *args)):
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {seconds} s: {script}")
            time.sleep(0.1)
        return value


@contextmanager
def chromium(folder: Path) -> Iterator[Browser]:
    """A headless Chromium with a new empty profile in `folder`, quit afterwards."""
    binary = require("chromium", "chromium")
    driver = require("chromedriver", "chromium-driver")
    port = free_port()
    process = subprocess.Popen(
        [driver, f"--port={port}", f"--log-path={folder / 'chromedriver.log'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        options = {
            "binary": binary,
            "args": [*CHROMIUM_FLAGS, f"--user-data-dir={folder / 'profile'}"],
        }
        wanted = {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": {"browser": "ALL"},
        }
        session = call(f"{base}/session", "POST", {"capabilities": {"alwaysMatch": wanted}}, 60)
        browser = Browser(f"{base}/session/{session['sessionId']}")
        try:
            browser.command("POST", "/timeouts", {"script": 10_000, "pageLoad": 30_000})
            yield browser
        finally:
            browser.command("DELETE", "")
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_ready(base: str, seconds: float = 15) -> None:
    """Poll chromedriver's /status until it accepts sessions."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if call(f"{base}/status", timeout=2)["ready"]:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"chromedriver did not start within {seconds} s")
