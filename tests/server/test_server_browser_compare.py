"""The playground's compare view and token colouring in a real browser (Playwright driving Debian's Chromium).

What the page shows is checked against the server itself: the same request (the same seed) sent directly
gives the same text, and the page's measures and colours are recomputed here from that response's logprobs.
Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import math
import re

import httpx
import pytest
from test_server_browser import ARTIFACTS, CHROMIUM, SlowModel, browser  # noqa: F401  (browser: the shared fixture)

from lstmgen import LanguageModel
from lstmgen.server import ServerLimits, create_app
from server_harness import ThreadedServer

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium; .ci/run does it)"
)

TEMPERATURES = [0.2, 0.5, 1.0, 1.2]
BINS = [(0.8, "p4"), (0.5, "p3"), (0.2, "p2"), (0.05, "p1"), (0.0, "p0")]  # the page's probability classes

# Notes the moment every column has text, and whether any column had finished by then.
OBSERVE_COLUMNS = """
() => {
  window.__together = null;
  new MutationObserver(() => {
    if (window.__together !== null) return;
    const columns = [...document.querySelectorAll('#columns .column')];
    if (columns.length === 4 && columns.every(c => c.querySelector('.generated').textContent.length > 0)) {
      window.__together = document.querySelectorAll('#columns .column.finished').length;
    }
  }).observe(document.getElementById('columns'), {childList: true, subtree: true, characterData: true, attributes: true});
}
"""


def set_slider(page, name: str, value: float) -> None:
    page.locator(f"#{name}").evaluate(f"(slider) => {{ slider.value = {value}; slider.dispatchEvent(new Event('input')); }}")


def completion(server_url: str, **body) -> dict:
    """The server's plain (not streamed) answer to the request the page sends, with logprobs."""
    response = httpx.post(server_url + "/v1/completions", json={"logprobs": 5, **body}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]


def measures(logprobs: dict, vocabulary_size: int) -> dict[str, float]:
    """The compare view's measures, from a response's logprobs: written independently of the page's code."""
    tokens = logprobs["tokens"]
    lower, upper = [], []
    for top in logprobs["top_logprobs"]:
        probabilities = [math.exp(value) for value in top.values()]
        rest = max(0.0, 1 - sum(probabilities))
        entropy = -sum(p * math.log(p) for p in [*probabilities, rest] if p > 0)
        lower.append(entropy)
        upper.append(entropy + rest * math.log(vocabulary_size - len(probabilities)))

    def distinct(n: int) -> float:
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return len(set(grams)) / len(grams)

    return {"mean-logprob": sum(logprobs["token_logprobs"]) / len(tokens), "entropy": sum(lower) / len(lower),
            "entropy-upper": sum(upper) / len(upper), "distinct-1": distinct(1), "distinct-2": distinct(2)}


def visible(text: str) -> str:
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥")


def test_compare_view_streams_four_temperatures_together(tiny_run, browser):  # noqa: F811
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    length, seed, prompt = 80, 11, "the "
    model = LanguageModel.load(tiny_run)
    vocabulary_size = model.tokenizer.vocab_size
    # Four workers, so the four requests run at once; 20 ms a step, so streaming is slow enough to watch.
    app = create_app(SlowModel(model, delay=0.02), limits=ServerLimits(concurrency=4))
    with ThreadedServer(app) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
        sent: list[dict] = []
        page.on("request", lambda request: request.url.endswith("/v1/completions") and sent.append(request.post_data_json))
        page.goto(server.url + "/")
        expect(page.locator("#model-info")).to_contain_text("LSTM")

        page.locator("#tab-samples").focus()
        page.keyboard.press("ArrowRight")  # the tabs follow the arrow keys
        expect(page.locator("#tab-compare")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#tab-compare")).to_be_focused()
        expect(page.locator("#panel-compare")).to_be_visible()
        expect(page.locator("#panel-samples")).to_be_hidden()
        expect(page.locator("#generate")).to_have_text("Compare")
        expect(page.locator("#temperatures")).to_have_value("0.2, 0.5, 1.0, 1.2")  # the default: four temperatures
        page.locator("#prompt").fill(prompt)
        page.locator("#seed").fill(str(seed))
        set_slider(page, "length", length)
        page.evaluate(OBSERVE_COLUMNS)

        page.locator("#generate").click()
        expect(page.locator("#status")).to_have_text("generating…")
        expect(page.locator("#status")).to_contain_text("done", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "playground-compare.png"), full_page=True)

        # Four streaming requests, one per temperature, with the same settings and logprobs for the measures.
        assert sorted(body["temperature"] for body in sent) == TEMPERATURES
        for body in sent:
            assert body["stream"] is True and body["logprobs"] == 5 and body["n"] == 1
            assert (body["prompt"], body["max_tokens"], body["seed"]) == (prompt, length, seed)
        # Streamed together: every column had text before any had finished.
        assert page.evaluate("window.__together") == 0

        columns = page.locator("#columns .column")
        expect(columns).to_have_count(4)
        means = []
        for index, temperature in enumerate(TEMPERATURES):
            column = columns.nth(index)
            expect(column.locator("h3")).to_have_text(f"temperature {temperature:g}")
            generated = column.locator(".generated").text_content()
            assert len(generated) == length  # character model: one character per token
            expect(column.locator(".generated .token")).to_have_count(length)
            answer = completion(server.url, prompt=prompt, max_tokens=length, seed=seed, temperature=temperature, top_p=1)
            assert generated == answer["text"]  # the same seed gives the same text, streamed or not
            expected = measures(answer["logprobs"], vocabulary_size)
            for name in ("mean-logprob", "entropy", "distinct-1", "distinct-2"):
                cell = column.locator(f".measures dd.{name}")
                expect(cell).to_be_visible()
                shown = float(cell.get_attribute("data-value"))
                assert math.isfinite(shown)
                # The columns were stepped in one batch and the check's answer alone: the same tokens, log-probabilities
                # equal to float rounding (lstmgen.decoding.engine: a row's arithmetic may depend on the batch's size).
                assert shown == pytest.approx(expected[name], rel=1e-6, abs=1e-9), (temperature, name)
                assert float(re.match(r"-?[\d.]+", cell.text_content()).group()) == pytest.approx(expected[name], abs=1e-3)  # shown to 3 places
            upper = re.search(r"≤ ([\d.]+)", column.locator(".measures dd.entropy").text_content())
            assert float(upper.group(1)) == pytest.approx(expected["entropy-upper"], abs=6e-3)  # shown to 2 places
            means.append(expected["mean-logprob"])
        # The trade-off the view is for: the coolest sample is the likeliest under the model, the hottest the least.
        assert means[0] > means[-1]

        # Hovering a token in a column shows its alternatives.
        token = columns.nth(2).locator(".generated .token").nth(10)
        token.hover()
        tip = page.locator("#token-tip")
        expect(tip).to_be_visible()
        expect(tip.locator("tr.alternative")).to_have_count(5)
        expect(tip.locator("tr.rest")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "playground-compare-hover.png"))
        assert not problems, problems
        page.close()


def test_tokens_are_coloured_by_probability_with_alternatives_on_hover(tiny_run, browser):  # noqa: F811
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    length, seed, prompt = 60, 3, "a stitch "
    with ThreadedServer(create_app(LanguageModel.load(tiny_run))) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        sent: list[dict] = []
        page.on("request", lambda request: request.url.endswith("/v1/completions") and sent.append(request.post_data_json))
        page.goto(server.url + "/")
        expect(page.locator("#model-info")).to_contain_text("LSTM")
        page.locator("#prompt").fill(prompt)
        page.locator("#seed").fill(str(seed))
        set_slider(page, "length", length)
        set_slider(page, "temperature", 1)
        page.locator("#generate").click()
        expect(page.locator("#status")).to_contain_text("done", timeout=60_000)
        assert sent[-1]["logprobs"] == 5  # "Colour tokens by probability" is on by default

        answer = completion(server.url, prompt=prompt, max_tokens=length, seed=seed, temperature=1, top_p=1, n=1)
        logprobs = answer["logprobs"]
        tokens = page.locator(".sample .generated .token")
        expect(tokens).to_have_count(length)
        assert page.locator(".sample .generated").text_content() == answer["text"]
        classes = tokens.evaluate_all("(spans) => spans.map(s => [...s.classList].find(c => /^p[0-4]$/.test(c)))")
        expected = [next(name for least, name in BINS if math.exp(value) >= least) for value in logprobs["token_logprobs"]]
        assert classes == expected
        assert len(set(classes)) > 1  # a real text has likely and unlikely tokens

        tip = page.locator("#token-tip")
        expect(tip).to_be_hidden()
        index = 7
        tokens.nth(index).hover()
        expect(tip).to_be_visible()
        top = logprobs["top_logprobs"][index]
        rows = tip.locator("tr.alternative td:first-child").all_text_contents()
        assert rows == [visible(text) for text, _ in sorted(top.items(), key=lambda item: -item[1])]
        probability = math.exp(logprobs["token_logprobs"][index])
        expect(tip.locator("p").first).to_contain_text(f"{100 * probability:.1f} %")
        if logprobs["tokens"][index] in top:
            expect(tip.locator("tr.chosen td").first).to_have_text(visible(logprobs["tokens"][index]))
        page.screenshot(path=str(ARTIFACTS / "playground-token-hover.png"))
        page.mouse.move(5, 5)
        expect(tip).to_be_hidden()

        # Keyboard: focus the text, then step through its tokens with the arrow keys.
        page.locator(".sample pre.tokens").focus()
        page.keyboard.press("ArrowRight")
        expect(tip).to_be_visible()
        expect(tokens.first).to_have_class(re.compile(r"\bactive\b"))
        page.keyboard.press("End")
        expect(tokens.last).to_have_class(re.compile(r"\bactive\b"))
        expect(tip.locator(".tip-token")).to_have_text(visible(logprobs["tokens"][-1]))
        page.keyboard.press("Escape")
        expect(tip).to_be_hidden()

        page.locator("#colour-tokens").uncheck()  # plain text, no logprobs asked
        page.locator("#generate").click()
        expect(page.locator("#status")).to_contain_text("done", timeout=60_000)
        assert "logprobs" not in sent[-1]
        expect(page.locator(".sample .generated .token")).to_have_count(0)
        assert len(page.locator(".sample .generated").text_content()) == length
        page.close()


def test_extra_fields_are_merged_into_the_requests(tiny_run, browser):  # noqa: F811
    from playwright.sync_api import expect

    length, prompt = 40, "the "
    with ThreadedServer(create_app(LanguageModel.load(tiny_run))) as server:
        page = browser.new_page()
        sent: list[dict] = []
        page.on("request", lambda request: request.url.endswith("/v1/completions") and sent.append(request.post_data_json))
        page.goto(server.url + "/")
        expect(page.locator("#model-info")).to_contain_text("LSTM")
        page.locator("#prompt").fill(prompt)
        set_slider(page, "length", length)
        set_slider(page, "temperature", 1)
        greedy = completion(server.url, prompt=prompt, max_tokens=length, temperature=0)["text"]
        status = page.locator("#status")

        page.locator("#advanced summary").click()
        page.locator("#extra-fields").fill('{"top_k": 1}')  # only the likeliest token: the greedy text
        page.locator("#generate").click()
        expect(status).to_contain_text("done", timeout=60_000)
        assert sent[-1]["top_k"] == 1 and sent[-1]["temperature"] == 1
        assert page.locator(".sample .generated").text_content() == greedy

        page.locator("#tab-compare").click()  # the compare view merges them too, keeping its temperatures
        page.locator("#temperatures").fill("0.5 1.5")
        page.locator("#generate").click()
        expect(status).to_contain_text("done", timeout=60_000)
        assert sorted(body["temperature"] for body in sent[-2:]) == [0.5, 1.5]
        assert all(body["top_k"] == 1 for body in sent[-2:])
        assert page.locator("#columns .generated").all_text_contents() == [greedy, greedy]

        page.locator("#extra-fields").fill('{"no_such_field": 1}')  # the server's own error is shown
        page.locator("#generate").click()
        expect(status).to_contain_text("Unrecognized request argument supplied: no_such_field")
        expect(status).to_have_class(re.compile(r"\berror\b"))
        expect(page.locator("#columns .column-error")).to_have_count(2)

        requests = len(sent)
        for extra, temperatures, message in [("{top_k: 1}", "0.5", "not valid JSON"), ("[1, 2]", "0.5", "give a JSON object"),
                                             ("", "0.5, 3", "“3” is not a number from 0 to 2"), ("", "", "give 1 to 6 temperatures")]:
            page.locator("#extra-fields").fill(extra)
            page.locator("#temperatures").fill(temperatures)
            page.locator("#generate").click()
            expect(status).to_contain_text(message)
            expect(status).to_have_class(re.compile(r"\berror\b"))
        assert len(sent) == requests  # nothing was sent for settings the page could tell were wrong
        page.close()


def test_measures_on_hand_made_tokens(tiny_run, browser):  # noqa: F811
    """The measures module on tokens whose answers are known, including the entropy's two bounds."""
    with ThreadedServer(create_app(LanguageModel.load(tiny_run))) as server:
        page = browser.new_page()
        page.goto(server.url + "/")
        tokens = [  # a certain token, then a fair coin, then a position whose top two hold only half the mass
            {"text": "a", "logprob": 0.0, "top": {"a": 0.0}},
            {"text": "b", "logprob": math.log(0.5), "top": {"a": math.log(0.5), "b": math.log(0.5)}},
            {"text": "a", "logprob": math.log(0.25), "top": {"a": math.log(0.25), "b": math.log(0.25)}},
        ]
        result = page.evaluate(
            """async (tokens) => {
              const m = await import('/static/measures.js');
              const texts = tokens.map(t => t.text);
              return {mean: m.meanLogprob(tokens), entropy: m.entropyPerToken(tokens, 10), d1: m.distinct(texts, 1),
                      d2: m.distinct(texts, 2), d4: m.distinct(texts, 4), none: m.entropyPerToken([], 10)};
            }""",
            tokens,
        )
        page.close()
    third = -2 * 0.25 * math.log(0.25) - 0.5 * math.log(0.5)  # the rest as one outcome of probability 1/2
    assert result["mean"] == pytest.approx((0 + math.log(0.5) + math.log(0.25)) / 3)
    assert result["entropy"]["estimate"] == pytest.approx((0 + math.log(2) + third) / 3)
    assert result["entropy"]["upper"] == pytest.approx((0 + math.log(2) + third + 0.5 * math.log(8) + 0) / 3)
    assert (result["d1"], result["d2"], result["d4"], result["none"]) == (pytest.approx(2 / 3), 1.0, None, None)
