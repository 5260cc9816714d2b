// Generated text as tokens coloured by their probability, and a tooltip with the likeliest alternatives.
// The server's streamed `logprobs` (tokens, token_logprobs, top_logprobs, text_offset) say where each token's
// text lies in the choice's text; text not yet covered by a token (held back by a stop string, or sent
// without logprobs) is shown plain after the last token.
"use strict";

// Probability bins, likeliest first: CSS classes p4..p0 colour them (blue = expected, orange = surprising).
export const BINS = [
  { least: 0.8, name: "p4", label: "≥ 80 %" },
  { least: 0.5, name: "p3", label: "50–80 %" },
  { least: 0.2, name: "p2", label: "20–50 %" },
  { least: 0.05, name: "p1", label: "5–20 %" },
  { least: 0, name: "p0", label: "< 5 %" },
];

export function probabilityClass(probability) {
  return BINS.find((bin) => probability >= bin.least).name;
}

const records = new WeakMap(); // token span -> its token: {text, logprob, top, offset}

/** A titled text panel: the prompt, then a TokenText for what is generated after it. Returns [title, pre, text]. */
export function tokenPanel(titleText, label, prompt) {
  const title = document.createElement("h3");
  title.textContent = titleText;
  const pre = document.createElement("pre");
  pre.className = "tokens";
  pre.tabIndex = 0;
  pre.setAttribute("aria-label", `${label}; arrow keys step through its tokens`);
  const promptSpan = document.createElement("span");
  promptSpan.className = "prompt-text";
  promptSpan.textContent = prompt;
  const generated = document.createElement("span");
  generated.className = "generated";
  pre.append(promptSpan, generated);
  return [title, pre, new TokenText(generated)];
}

export class TokenText {
  // element: the box the generated text goes in (its earlier children, such as the prompt, stay first).
  constructor(element) {
    this.element = element;
    this.text = "";
    this.tokens = [];
    this.covered = 0; // characters of this.text already inside token spans
    this.tail = document.createTextNode("");
    element.append(this.tail);
  }

  add(text, logprobs) {
    this.text += text;
    if (logprobs) {
      for (let i = 0; i < logprobs.tokens.length; i++) {
        const token = {
          text: logprobs.tokens[i],
          logprob: logprobs.token_logprobs[i],
          top: logprobs.top_logprobs ? logprobs.top_logprobs[i] : null,
          offset: logprobs.text_offset[i],
        };
        this.tokens.push(token);
        if (token.offset > this.covered) this.element.insertBefore(document.createTextNode(this.text.slice(this.covered, token.offset)), this.tail);
        const span = document.createElement("span");
        // null: a token the model cannot generate (never in a sampled text); coloured as the least likely
        const probability = token.logprob === null ? 0 : Math.exp(token.logprob);
        span.className = `token ${probabilityClass(probability)}`;
        span.textContent = this.text.slice(token.offset, token.offset + token.text.length);
        records.set(span, token);
        this.element.insertBefore(span, this.tail);
        this.covered = Math.max(this.covered, token.offset + token.text.length);
      }
    }
    this.tail.data = this.text.slice(this.covered);
  }
}

// Whitespace made visible, so that a space or a line break can be told apart in the tooltip.
function visible(text) {
  if (text === "") return "(part of a character)";
  return text.replace(/ /g, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥");
}

function percent(probability) {
  return probability >= 0.001 ? `${(100 * probability).toFixed(1)} %` : `${probability.toExponential(1)}`;
}

function fill(tip, token) {
  tip.replaceChildren();
  const head = document.createElement("p");
  const name = document.createElement("strong");
  name.className = "tip-token";
  name.textContent = visible(token.text);
  const probability = token.logprob === null ? 0 : Math.exp(token.logprob);
  const logprob = token.logprob === null ? "−∞" : token.logprob.toFixed(3);
  head.append(name, ` p = ${percent(probability)} (log-probability ${logprob})`);
  tip.append(head);
  if (!token.top) {
    const note = document.createElement("p");
    note.textContent = "no alternatives were asked for";
    tip.append(note);
    return;
  }
  const table = document.createElement("table");
  const caption = document.createElement("caption");
  caption.textContent = "likeliest tokens here";
  table.append(caption);
  const alternatives = Object.entries(token.top).map(([text, value]) => [text, value === null ? 0 : Math.exp(value)]).sort((a, b) => b[1] - a[1]);
  const rest = Math.max(0, 1 - alternatives.reduce((sum, [, p]) => sum + p, 0));
  for (const [text, p] of [...alternatives, [null, rest]]) {
    const row = document.createElement("tr");
    row.className = text === null ? "rest" : "alternative";
    if (text === token.text) row.classList.add("chosen");
    const cells = [text === null ? "all others" : visible(text), percent(p)];
    for (const value of cells) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    const barCell = document.createElement("td");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.round(60 * p)}px`;
    barCell.append(bar);
    row.append(barCell);
    table.append(row);
  }
  tip.append(table);
}

// Hover (or step with the arrow keys through a focused text) to see a token's alternatives.
// root holds the token texts (elements with class "tokens", focusable); tip is the shared tooltip element.
export function inspectTokens(root, tip) {
  let shown = null;
  const show = (span) => {
    if (shown) shown.classList.remove("active");
    shown = span;
    span.classList.add("active");
    fill(tip, records.get(span));
    tip.hidden = false;
    const box = span.getBoundingClientRect();
    const width = tip.offsetWidth;
    tip.style.left = `${Math.max(4, Math.min(window.scrollX + box.left, window.scrollX + document.documentElement.clientWidth - width - 4))}px`;
    tip.style.top = `${window.scrollY + box.bottom + 4}px`;
  };
  const hide = () => {
    if (shown) shown.classList.remove("active");
    shown = null;
    tip.hidden = true;
  };
  root.addEventListener("mouseover", (event) => {
    const span = event.target.closest(".token");
    if (span && records.has(span)) show(span);
  });
  root.addEventListener("mouseout", (event) => {
    const to = event.relatedTarget;
    if (event.target.closest(".token") && !(to && to.closest && to.closest(".token"))) hide();
  });
  root.addEventListener("focusout", hide);
  root.addEventListener("keydown", (event) => {
    const box = event.target.closest(".tokens");
    if (!box) return;
    if (event.key === "Escape") { hide(); return; }
    const spans = [...box.querySelectorAll(".token")];
    if (!spans.length) return;
    const at = shown && box.contains(shown) ? spans.indexOf(shown) : -1;
    const moves = { ArrowRight: at + 1, ArrowLeft: at < 0 ? spans.length - 1 : at - 1, Home: 0, End: spans.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    show(spans[Math.max(0, Math.min(spans.length - 1, moves[event.key]))]);
  });
}
