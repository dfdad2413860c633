"""What the browser tests share: Debian's chromium driven by playwright (its own browser download is never
needed), the site served over HTTP on loopback, and pages that record console errors."""

from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium keeps calling out, and this machine's network refuses it.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser() -> Any:
    """playwright's sync API, or skip the calling test module when chromium or playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium; .ci/run "
                    "does)", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                                                             "(pip install -e '.[test]')")


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """The folder `site` over HTTP on 127.0.0.1; yields its base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def chromium_context(sync_api: Any) -> Iterator[Any]:
    """A headless chromium context with a fresh profile, removed afterwards."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_api.sync_playwright() as p:
            context = p.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), headless=True,
                                                           args=ARGS, viewport={"width": 1400, "height": 900})
            yield context
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def open_page(context: Any) -> Any:
    """A new page whose `errors` collects console errors and uncaught exceptions."""
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page
