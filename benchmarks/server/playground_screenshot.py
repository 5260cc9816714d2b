"""Take the playground screenshot in docs/: the compare view at four temperatures, a token's alternatives shown.

    .venv/bin/python benchmarks/server/playground_screenshot.py runs/demo
    .venv/bin/python benchmarks/server/playground_screenshot.py runs/ts4 --prompt "ROMEO:" --seed 4 --out docs/playground-compare.png

Serves CKPT in this process (uvicorn on a free loopback port), drives Debian's Chromium (/usr/bin/chromium)
headless through Playwright, sets the prompt, seed and length, runs the compare view at its default
temperatures (0.2, 0.5, 1.0, 1.2), hovers one token of the temperature-1 column and saves the page as a PNG.
Prints the columns' measures as JSON. Needs the server and dev extras (FastAPI, uvicorn, Playwright).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn

from lstmgen import LanguageModel
from lstmgen.server import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def serve(app) -> tuple[uvicorn.Server, str]:
    """uvicorn in a daemon thread on a free loopback port; returns the server and its URL once it listens."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{listener.getsockname()[1]}"


def shrink(path: Path, colours: int) -> None:
    """A palette PNG: a page of text needs few colours, and the file is a fraction of the size."""
    from PIL import Image  # Pillow comes with the plots extra (matplotlib)

    with Image.open(path) as image:
        reduced = image.convert("RGB").quantize(colors=colours)
    reduced.save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoint or run directory to serve")
    parser.add_argument("--prompt", default="ROMEO:")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--length", type=int, default=160, help="tokens per column")
    parser.add_argument("--hover", type=int, default=12, help="which token of the temperature-1 column to hover")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=820)
    parser.add_argument("--out", type=Path, default=Path("docs/playground-compare.png"))
    parser.add_argument("--colours", type=int, default=128, help="reduce the PNG to this many colours (0: keep all; needs Pillow)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import expect, sync_playwright

    server, url = serve(create_app(LanguageModel.load(args.checkpoint)))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(url + "/")
            expect(page.locator("#model-info")).to_contain_text("LSTM")
            page.locator("#tab-compare").click()
            page.locator("#prompt").fill(args.prompt)
            page.locator("#seed").fill(str(args.seed))
            page.locator("#length").evaluate(f"(s) => {{ s.value = {args.length}; s.dispatchEvent(new Event('input')); }}")
            page.locator("#generate").click()
            expect(page.locator("#status")).to_contain_text("done", timeout=120_000)
            columns = page.locator("#columns .column")
            page.locator("#status").evaluate("(status) => { status.textContent = 'done'; }")  # no machine-dependent timing in docs
            columns.nth(2).locator(".generated .token").nth(args.hover).hover()
            expect(page.locator("#token-tip")).to_be_visible()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            if args.colours:
                shrink(args.out, args.colours)
            report = {}
            for index in range(columns.count()):
                column = columns.nth(index)
                cells = column.locator(".measures dd")
                report[column.get_attribute("data-temperature")] = {
                    cells.nth(i).get_attribute("class").split()[-1]: float(cells.nth(i).get_attribute("data-value")) for i in range(cells.count())
                }
            browser.close()
    finally:
        server.should_exit = True
    print(json.dumps({"checkpoint": str(args.checkpoint), "prompt": args.prompt, "seed": args.seed, "length": args.length,
                      "screenshot": str(args.out), "bytes": args.out.stat().st_size, "measures": report}, indent=2))


if __name__ == "__main__":
    main()
