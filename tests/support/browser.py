"""A real browser for the page's tests: Debian's Chromium, driven by Playwright.

Playwright's own browser download (`playwright install`) needs the internet,
which CI does not have; `make test` installs Debian's `chromium` package instead,
and Playwright starts that one (`executable_path`).
"""

import os
from pathlib import Path

from playwright.sync_api import Browser, Playwright

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Headless, and nothing that phones home: with no internet, Chromium's
# background connections (updates, sync, Google's hosts) only fail and slow it.
ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox will not start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Records every state a task row shows, with the time it showed it: the page
# itself keeps no history, and a state may last less than a test's poll.
RECORD_ROW_STATES = """
window.rowStates = [];
new MutationObserver((changes) => {
  for (const change of changes) {
    const row = change.target;
    if (change.attributeName === "data-state" && row.dataset.taskId) {
      window.rowStates.push({ task: row.dataset.taskId, state: row.dataset.state, at: Date.now() });
    }
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
"""


def launch_chromium(playwright: Playwright) -> Browser:
    """Start a headless Chromium.

    Raises:
        AssertionError: there is no Chromium at $CHROMIUM (default /usr/bin/chromium).
    """
    assert CHROMIUM.exists(), (
        f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package; "
        "elsewhere, set CHROMIUM to a Chromium or Chrome executable"
    )
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
