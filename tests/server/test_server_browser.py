"""The playground in a real browser: Playwright driving Debian's Chromium, headless.

Screenshots are saved in test-artifacts/ (git-ignored; CI keeps them).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from lstmgen import LanguageModel
from lstmgen.server import create_app
from server_harness import ThreadedServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium; .ci/run does it)"
)

# Counts the changes to the generated text and notes the status line when the first text arrived.
OBSERVE = """
() => {
  window.__updates = 0;
  window.__statusAtFirstText = null;
  new MutationObserver(() => {
    const text = [...document.querySelectorAll('.sample .generated')].map(s => s.textContent).join('');
    if (text.length === 0) return;
    window.__updates += 1;
    if (window.__statusAtFirstText === null) window.__statusAtFirstText = document.getElementById('status').textContent;
  }).observe(document.getElementById('outputs'), {childList: true, subtree: true, characterData: true});
}
"""


class SlowModel:
    """The tiny model, paused a little at each step so that streaming is slow enough to watch."""

    def __init__(self, model: LanguageModel, delay: float) -> None:
        self.model = model
        self.delay = delay

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def decode(self, *args, **kwargs):  # what the workers generate through (beam search aside: --max-streams 0)
        for record in self.model.decode(*args, **kwargs):
            time.sleep(self.delay)
            yield record

    def sample_group(self, *args, **kwargs):  # what the batching engine steps: each record is made a little late
        group = self.model.sample_group(*args, **kwargs)
        record = group.record

        def slow_record():
            time.sleep(self.delay)
            return record()

        group.record = slow_record
        return group


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_playground_streams_generated_text(tiny_run, browser):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    length = 150
    app = create_app(SlowModel(LanguageModel.load(tiny_run), delay=0.01))  # 150 steps: about 1.5 s
    with ThreadedServer(app) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
        page.on("request", lambda request: request.url.startswith(server.url) or problems.append(f"off-site request: {request.url}"))

        page.goto(server.url + "/")
        expect(page.locator("#model-info")).to_contain_text("LSTM 1 × 32")  # the model's info, from /info
        expect(page.locator("#model-name")).to_contain_text("tiny")
        page.locator("#prompt").fill("the quick ")
        page.locator("#length").evaluate(f"(slider) => {{ slider.value = {length}; slider.dispatchEvent(new Event('input')); }}")
        expect(page.locator("#length-value")).to_have_text(str(length))
        page.evaluate(OBSERVE)

        page.locator("#generate").click()
        generated = page.locator(".sample .generated")
        expect(generated).not_to_have_text("")  # text appears ...
        expect(page.locator("#status")).to_have_text("generating…")  # ... while the generation still runs
        page.screenshot(path=str(ARTIFACTS / "playground-streaming.png"))
        expect(page.locator("#status")).to_contain_text("done", timeout=60_000)

        assert len(generated.text_content()) == length  # character model: one character per token
        assert page.locator(".sample .prompt-text").text_content() == "the quick "
        assert page.evaluate("window.__statusAtFirstText") == "generating…"
        assert page.evaluate("window.__updates") >= 5  # it arrived in many pieces, not all at the end
        assert float(page.locator("#rate").text_content()) > 0
        assert page.locator("#token-count").text_content() == str(length)
        page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)
        assert not problems, problems
        page.close()


def test_playground_shows_samples_and_errors(tiny_run, browser):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    with ThreadedServer(create_app(LanguageModel.load(tiny_run))) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(server.url + "/")
        expect(page.locator("#model-info")).to_contain_text("LSTM")
        page.locator("#samples").evaluate("(slider) => { slider.value = 3; slider.dispatchEvent(new Event('input')); }")
        page.locator("#prompt").fill("a stitch ")
        page.locator("#generate").click()
        expect(page.locator("#status")).to_contain_text("done", timeout=60_000)
        expect(page.locator(".sample")).to_have_count(3)
        for index in range(3):
            assert page.locator(".sample .generated").nth(index).text_content()

        page.locator("#prompt").fill("unknown symbol: €")  # not in the tiny corpus
        page.locator("#generate").click()
        expect(page.locator("#status")).to_have_class(re.compile(r"\berror\b"))
        expect(page.locator("#status")).to_contain_text("vocabulary lacks")
        page.screenshot(path=str(ARTIFACTS / "playground-error.png"))
        page.locator("#unknown").select_option("skip")  # drop the unknown symbols instead
        page.locator("#generate").click()
        expect(page.locator("#status")).to_contain_text("done", timeout=60_000)
        assert page.locator(".sample .generated").first.text_content()
        page.close()


def test_stop_button_stops_the_generation_on_the_server(tiny_run, browser):
    from playwright.sync_api import expect

    length = 2000  # 20 s at 10 ms a step if it were not stopped
    app = create_app(SlowModel(LanguageModel.load(tiny_run), delay=0.01))
    with ThreadedServer(app) as server:
        page = browser.new_page()
        page.goto(server.url + "/")
        expect(page.locator("#model-info")).to_contain_text("LSTM")
        page.locator("#length").evaluate(f"(slider) => {{ slider.value = {length}; slider.dispatchEvent(new Event('input')); }}")
        expect(page.locator("#length-value")).to_have_text(str(length))
        page.locator("#generate").click()
        expect(page.locator(".sample .generated")).not_to_have_text("")
        page.locator("#stop").click()
        expect(page.locator("#status")).to_have_text("stopped")
        expect(page.locator("#generate")).to_be_enabled()
        deadline = time.monotonic() + 10
        while httpx.get(server.url + "/health").json()["generations"]["cancelled"] != 1:
            assert time.monotonic() < deadline, "the server kept generating after the page stopped reading"
            time.sleep(0.05)
        stats = httpx.get(server.url + "/health").json()["generations"]
        assert stats["running"] == 0 and stats["completed"] == 0
        assert len(page.locator(".sample .generated").text_content()) < length
        page.close()


def test_playground_sends_the_api_key_it_is_given(tiny_run, browser):
    from playwright.sync_api import expect

    key = "sk-playground-7d2e"
    with ThreadedServer(create_app(LanguageModel.load(tiny_run), api_key=key)) as server:
        page = browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        sent_keys: list[str | None] = []
        page.on("request", lambda request: request.url.endswith("/v1/completions") and sent_keys.append(request.headers.get("authorization")))

        page.goto(server.url + "/")
        status = page.locator("#status")
        expect(status).to_contain_text("API key")  # /info was refused: the page asks for the key
        expect(status).to_have_class(re.compile(r"\berror\b"))
        page.locator("#api-key").fill(key)
        page.locator("#api-key").dispatch_event("change")
        expect(page.locator("#model-info")).to_contain_text("LSTM")
        expect(status).not_to_have_class(re.compile(r"\berror\b"))

        page.locator("#prompt").fill("the ")
        page.locator("#generate").click()
        expect(status).to_contain_text("done", timeout=60_000)
        assert page.locator(".sample .generated").first.text_content()
        assert sent_keys == [f"Bearer {key}"]

        page.locator("#api-key").fill("sk-wrong")
        page.locator("#generate").click()
        expect(status).to_contain_text("incorrect API key")
        stored = page.evaluate("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie")
        assert key not in stored and not [text for text in console if key in text]
        page.close()
