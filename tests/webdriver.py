"""Just enough of the W3C WebDriver protocol to drive Debian's headless Chromium through its
`chromedriver`, over httpx: open a page, click an element, read the title and the source.

It needs no Python package beyond what the App already installs (no selenium, whose driver
manager would try to download a browser): the browser and its driver come from Debian.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the protocol's key for an element's id
CHROME_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


class Browser:
    """One WebDriver session."""

    def __init__(self, driver_url: str) -> None:
        self._http = httpx.Client(base_url=driver_url, timeout=30)
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": CHROME_ARGS},
        }
        answer = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self._session = f"/session/{answer['sessionId']}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=body)
        value = response.json()["value"]
        if response.status_code != 200:
            raise RuntimeError(f"WebDriver {method} {path}: {value.get('message', value)}")
        return value

    def get(self, url: str) -> None:
        self._call("POST", f"{self._session}/url", {"url": url})

    @property
    def title(self) -> str:
        return str(self._call("GET", f"{self._session}/title"))

    @property
    def page_source(self) -> str:
        return str(self._call("GET", f"{self._session}/source"))

    def _element(self, css: str) -> str:
        query = {"using": "css selector", "value": css}
        element = self._call("POST", f"{self._session}/element", query)
        return f"{self._session}/element/{element[ELEMENT]}"

    def click(self, css: str) -> None:
        self._call("POST", f"{self._element(css)}/click", {})

    def property(self, css: str, name: str) -> str:
        """An element's DOM property, such as a link's resolved `href`."""
        return str(self._call("GET", f"{self._element(css)}/property/{name}"))

    def wait_for_title(self, title: str, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while self.title != title:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page's title is {self.title!r}, not {title!r}")
            time.sleep(0.05)

    def quit(self) -> None:
        try:
            self._call("DELETE", self._session)
        finally:
            self._http.close()


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    """chromedriver on a free port of 127.0.0.1, and one headless Chromium session on it."""
    if not (CHROMIUM and CHROMEDRIVER):
        raise FileNotFoundError("chromium and chromedriver")
    driver = subprocess.Popen(
        [CHROMEDRIVER, "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert driver.stdout is not None
        port = None
        for line in driver.stdout:  # "ChromeDriver was started successfully on port 44539."
            found = re.search(r"started successfully on port (\d+)", line)
            if found:
                port = found.group(1)
                break
        if port is None:
            raise RuntimeError("chromedriver did not start")
        threading.Thread(target=driver.stdout.read, daemon=True).start()  # never let it block
        browser = Browser(f"http://127.0.0.1:{port}")
        try:
            yield browser
        finally:
            browser.quit()
    finally:
        driver.terminate()
        driver.wait(10)
