"""The HTML report opened in a real headless browser: Debian's Chromium (installed by ``.ci/run``
with apt-get) driven by Playwright over the DevTools protocol (``executable_path``: Playwright's
own browser download is never used, so this works offline).

Checks: the page loads from the file with no console error or warning and no uncaught
exception; nothing is requested from anywhere but the file itself and ``data:`` URLs (the report
is self-contained); every image decodes (``HTMLImageElement.decode()`` resolves and the image has
a natural size); every section of the report is there; a full-page screenshot is written as a
test artifact (``$FERROFACTOR_TEST_ARTIFACTS``, default ``test-artifacts/`` at the repository
root) and is a real PNG of the page.

Skipped, with the reason, only where the browser cannot be had: no Chromium executable
(``apt-get install chromium``), or Playwright (the test extra) not importable. ``.ci/run`` installs
Chromium and then sets ``FERROFACTOR_REQUIRE_BROWSER=1``: with it, those two are failures, not
skips. A Chromium that is installed but does not start is always a failure.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("FERROFACTOR_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM_NAMES = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome")


def _chromium() -> str | None:
    env = os.environ.get("FERROFACTOR_CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    # Debian's package keeps the binary here (the /usr/bin/chromium wrapper script launches it)
    return "/usr/lib/chromium/chromium" if os.path.exists("/usr/lib/chromium/chromium") else None


def _unavailable(reason: str) -> None:
    """Skip, saying why, unless the browser is required here (CI, once Chromium is installed)."""
    if os.environ.get("FERROFACTOR_REQUIRE_BROWSER", "") not in ("", "0"):
        pytest.fail(f"FERROFACTOR_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    if exe is None:
        _unavailable("no Chromium executable: install Debian's package (apt-get install chromium; "
                     ".ci/run does) or set FERROFACTOR_CHROMIUM")
    try:
        from playwright import sync_api as sync
    except ImportError as e:
        _unavailable(f"playwright is not importable ({e}); pip install '.[test]'")
    with sync.sync_playwright() as p:
        # an installed browser that does not start is a failure, not a skip
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def test_report_in_headless_chromium(demo_run, browser):
    assert demo_run.proc.returncode == 0, demo_run.proc.stderr[-3000:]
    report = (demo_run.out / "report.html").resolve()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console, errors, requests = [], [], []
    page.on("console", lambda m: console.append((m.type, m.text)))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri(), wait_until="load")

    assert errors == []
    assert [c for c in console if c[0] in ("error", "warning")] == []
    assert [u for u in requests if not (u.startswith("data:") or u == report.as_uri())] == []

    images = page.evaluate("""async () => Promise.all(Array.from(document.images).map(async (img) => {
        try { await img.decode(); } catch (e) { return {src: img.src.slice(0, 40), ok: false, why: String(e)}; }
        return {src: img.src.slice(0, 40), ok: img.complete && img.naturalWidth > 0 && img.naturalHeight > 0,
                w: img.naturalWidth, h: img.naturalHeight};
    }))""")
    assert len(images) == 14
    assert all(i["ok"] for i in images), [i for i in images if not i["ok"]]
    # every image is laid out with a visible size
    sizes = page.evaluate("Array.from(document.images).map(i => [i.clientWidth, i.clientHeight])")
    assert all(w > 100 and h > 100 for w, h in sizes), sizes

    sections = page.evaluate("Array.from(document.querySelectorAll('main > section')).map(s => s.id)")
    # the tables "portfolios" and "alerts" keep their ids (the keys scripts read): their sections
    # are "portfolios-section" and "alerts-section", so that every id of the page is unique
    assert sections == ["data", "factor-returns", "risk", "signal", "portfolios-section", "backtest",
                        "alerts-section", "run"]
    ids = page.evaluate("Array.from(document.querySelectorAll('[id]')).map(e => e.id)")
    assert len(ids) == len(set(ids)), sorted(i for i in set(ids) if ids.count(i) > 1)
    assert page.evaluate("document.getElementById('portfolios').tagName") == "TABLE"
    nav = page.evaluate("Array.from(document.querySelectorAll('nav a')).map(a => a.getAttribute('href'))")
    assert nav == [f"#{s}" for s in sections]
    assert page.title() == "ferrofactor demo: synthetic universe"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1280 and height > 3000  # the whole page, not the viewport
    page.close()
