"""index.html in a real headless browser (Debian's Chromium): no console error, every image decodes, nothing
is fetched from the network.

The test injects a small script into a copy of the page; after the load event
it records, in a <pre id="browser-check"> element, how many images there are,
which did not decode (naturalWidth == 0), which resources were fetched other
than data: URIs, and how many sections the page has. Chromium's --dump-dom
prints the resulting DOM; its stderr (--enable-logging=stderr) carries every
console message as a "CONSOLE" line. A control page with a broken image and a
console error shows the check catches both.

Chromium absent: skipped locally, a failure when the CI environment variable is set.
CI needs: apt-get install -y chromium (Debian bookworm package; chromium-driver is not needed).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

CHECK_SCRIPT = """
<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var bad = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); })
                  .map(function (img) { return img.alt || img.src.slice(0, 40); });
  var fetched = performance.getEntriesByType("resource").map(function (e) { return e.name; })
                  .filter(function (name) { return name.indexOf("data:") !== 0; });
  var out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({images: images.length, bad: bad, fetched: fetched,
                                    sections: document.querySelectorAll("main > section").length});
  document.body.appendChild(out);
});
</script>
"""


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    message = "Chromium is not installed (Debian: apt-get install -y chromium); the browser test needs it"
    if os.environ.get("CI"):
        pytest.fail(message + " and CI is set")
    pytest.skip(message)


def open_in_browser(browser: str, page: Path, profile: Path) -> tuple[dict, list[str]]:
    """Load ``page`` with the check script injected; return the check's result and the console lines."""
    text = page.read_text(encoding="utf-8")
    assert "</body>" in text
    checked = page.with_name(page.stem + ".checked.html")
    checked.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>", 1), encoding="utf-8")
    cmd = [
        browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-extensions", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=5000", "--dump-dom", checked.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="browser-check">(.*?)</pre>', proc.stdout, flags=re.DOTALL)
    assert match, f"the check did not run (exit {proc.returncode}); stderr:\n{proc.stderr[-3000:]}"
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return json.loads(html.unescape(match.group(1))), console


def test_index_html_opens_in_a_headless_browser(written_report, tmp_path):
    browser = find_browser()
    page = tmp_path / "index.html"
    shutil.copy(written_report, page)
    text = page.read_text(encoding="utf-8")
    result, console = open_in_browser(browser, page, tmp_path / "profile")
    assert console == []
    assert result["bad"] == [] and result["fetched"] == []
    assert result["images"] == text.count("<img ") == 10  # every figure of the synthetic results
    assert result["sections"] == text.count("<section ") == 9


def test_the_browser_check_catches_broken_images_and_console_errors(tmp_path):
    browser = find_browser()
    page = tmp_path / "control.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body><main>'
        '<section><img alt="broken" src="data:image/png;base64,AAAA"></section></main>'
        '<script>console.error("deliberate control error");</script></body></html>',
        encoding="utf-8",
    )
    result, console = open_in_browser(browser, page, tmp_path / "profile")
    assert result["bad"] == ["broken"] and result["images"] == 1
    assert any("deliberate control error" in line for line in console)
