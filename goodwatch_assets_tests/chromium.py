"""Debian's headless Chromium, driven through its DevTools protocol: seed a site's local storage, open a page, wait
until it shows what a test waits for, click, read the page, take a screenshot. A fresh profile and every background
service off: it asks nothing of the network but the pages it is told to open."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from itertools import count
from pathlib import Path

import httpx
import websocket

from goodwatch_assets_tests.helpers import wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OFFLINE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


class Chromium:
    """One headless Chromium with one tab whose page is exactly ``width`` x ``height`` pixels; a context manager."""

    def __init__(self, profile: Path, width: int, height: int):
        self.profile, self.width, self.height = profile, width, height
        self._ids = count(1)

    def __enter__(self) -> Chromium:
        self._process = subprocess.Popen(
            [CHROMIUM, *OFFLINE_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = self.profile / "DevToolsActivePort"  # the port Chromium chose, on its first line
            port = wait_for(lambda: port_file.exists() and port_file.read_text().split("\n")[0], 30, every=0.2,
                            what="Chromium's DevTools port")
            tab = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
                       if t["type"] == "page")
            self._socket = websocket.create_connection(tab["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        except BaseException:
            self._process.kill()
            raise
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height, deviceScaleFactor=1,
                  mobile=False)
        return self

    def __exit__(self, *exc) -> None:
        self._socket.close()
        self._process.terminate()
        self._process.wait(timeout=30)

    def call(self, method: str, **params) -> dict:
        """One DevTools command; its result (the events that arrive meanwhile are not asked for, and dropped)."""
        sent = next(self._ids)
        self._socket.send(json.dumps({"id": sent, "method": method, "params": params}))
        while (message := json.loads(self._socket.recv())).get("id") != sent:
            pass
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]

    def evaluate(self, expression: str):
        """A JavaScript expression's value in the page (JSON-like values only)."""
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']['exception']['description']}")
        return answer["result"].get("value")

    def open(self, url: str) -> None:
        """Go to ``url`` and wait until its document has loaded (a single-page app goes on rendering after)."""
        self.call("Page.navigate", url=url)
        self.wait_until("document.readyState === 'complete'", 60, f"{url} to load")

    def seed_local_storage(self, url: str, items: dict) -> None:
        """Open ``url`` and store ``items`` (as JSON) in its origin's local storage, for the pages opened next: what
        a user's earlier choices would have left there."""
        self.open(url)
        for key, value in items.items():
            self.evaluate(f"localStorage.setItem({json.dumps(key)}, {json.dumps(json.dumps(value))})")

    def wait_until(self, expression: str, timeout: float, what: str):
        """Poll a JavaScript expression until its value is true, and return that."""
        return wait_for(lambda: self.evaluate(expression), timeout, every=0.5, what=what)

    def click(self, selector: str, text: str | None = None) -> None:
        """Click the page's first element matching the CSS ``selector`` (and saying ``text``, when given)."""
        clicked = self.evaluate(f"""(() => {{
            const element = [...document.querySelectorAll({json.dumps(selector)})]
                .find(e => {json.dumps(text)} === null || e.textContent.trim() === {json.dumps(text)});
            element?.click();
            return !!element;
        }})()""")
        assert clicked, f"nothing to click on the page: {selector} {text or ''}"

    def screenshot(self, path: Path) -> None:
        """The page as it is drawn now, as a PNG of ``width`` x ``height``."""
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

