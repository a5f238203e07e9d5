"""Screenshot the pinned panel of a report with one image pinned (headless Debian Chromium).

Usage: python scripts/screenshot_pin.py REPORT.html IMAGE_PATH OUT.png
(IMAGE_PATH as the report shows it, relative to the indexed folder).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright


def main(report: Path, image: str, out: Path) -> None:
    """Open ``report``, pin ``image`` and save the pinned panel to ``out``."""
    with sync_playwright() as p:
        args = ["--headless", "--no-sandbox", "--disable-gpu"]
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(report.resolve().as_uri())
        page.wait_for_function("() => window.ExplorerApp && ExplorerApp.state.fig", timeout=60000)
        index = page.evaluate("p => ExplorerApp.data.paths.indexOf(p)", image)
        if index < 0:
            raise SystemExit(f"{image} is not in the report")
        page.evaluate("i => ExplorerApp.pin(i)", index)
        page.wait_for_timeout(800)
        panel = page.query_selector(".card.pin")
        assert panel is not None
        panel.screenshot(path=str(out))
        browser.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
