// The compare view: one prompt at several temperatures, side by side, streamed together (one streaming
// request per temperature, all in flight at once), each column measured when it finishes.
"use strict";

import { distinct, entropyPerToken, meanLogprob } from "./measures.js";
import { streamCompletion } from "./stream.js";
import { tokenPanel } from "./tokens.js";

// A browser opens at most six connections to one server at a time: more columns would wait for a free one.
export const MAX_TEMPERATURES = 6;

export function parseTemperatures(text) {
  const parts = text.split(/[\s,;]+/).filter((part) => part !== "");
  if (parts.length < 1 || parts.length > MAX_TEMPERATURES) {
    throw new Error(`give 1 to ${MAX_TEMPERATURES} temperatures, separated by commas`);
  }
  return parts.map((part) => {
    const value = Number(part);
    if (!Number.isFinite(value) || value < 0 || value > 2) throw new Error(`temperature “${part}” is not a number from 0 to 2`);
    return value;
  });
}

const MEASURES = [
  ["mean-logprob", "mean log-prob", "mean log-probability per token (nats)"],
  ["entropy", "entropy", "entropy per token (nats), from the 5 likeliest alternatives and the rest of the probability"],
  ["distinct-1", "distinct-1", "distinct tokens / tokens"],
  ["distinct-2", "distinct-2", "distinct pairs of tokens / pairs"],
];

function makeColumn(temperature, prompt) {
  const column = document.createElement("div");
  column.className = "column";
  column.dataset.temperature = String(temperature);
  const [title, pre, text] = tokenPanel(`temperature ${temperature}`, `text at temperature ${temperature}`, prompt);
  const measures = document.createElement("dl");
  measures.className = "measures";
  measures.hidden = true;
  column.append(title, pre, measures);
  return { column, text, measures };
}

function showMeasures(list, tokens, vocabularySize) {
  const texts = tokens.map((token) => token.text);
  const entropy = entropyPerToken(tokens, vocabularySize);
  const values = {
    "mean-logprob": meanLogprob(tokens),
    entropy: entropy && entropy.estimate,
    "distinct-1": distinct(texts, 1),
    "distinct-2": distinct(texts, 2),
  };
  list.replaceChildren();
  for (const [key, name, help] of MEASURES) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    dt.title = help;
    const dd = document.createElement("dd");
    dd.className = `measure ${key}`;
    const value = values[key];
    dd.dataset.value = value === null ? "" : String(value);
    dd.textContent = value === null ? "–" : value.toFixed(3);
    if (key === "entropy" && entropy && entropy.upper !== null) {
      const bound = document.createElement("small");
      bound.textContent = ` (≤ ${entropy.upper.toFixed(2)})`;
      bound.title = "upper bound: the rest of the probability spread evenly over the other tokens";
      dd.append(bound);
    }
    list.append(dt, dd);
  }
  list.hidden = false;
}

// Runs every temperature at once; resolves when all have finished, with each one's error or null.
// body: the request's other fields; onToken(count) is told each time new tokens arrive (all columns together).
export async function compareTemperatures({ container, prompt, body, temperatures, headers, signal, vocabularySize, onTokens }) {
  const columns = temperatures.map((temperature) => makeColumn(temperature, prompt));
  container.replaceChildren(...columns.map((entry) => entry.column));
  let tokens = 0;
  const runs = columns.map(async (entry, index) => {
    try {
      await streamCompletion({ ...body, temperature: temperatures[index], n: 1, stream: true, logprobs: 5 }, {
        headers,
        signal,
        onChunk: (chunk) => {
          for (const choice of chunk.choices) {
            entry.text.add(choice.text, choice.logprobs);
            if (choice.logprobs) tokens += choice.logprobs.tokens.length;
          }
          onTokens(tokens);
        },
      });
      showMeasures(entry.measures, entry.text.tokens, vocabularySize);
      entry.column.classList.add("finished");
      return null;
    } catch (error) {
      const note = document.createElement("p");
      note.className = "column-error";
      note.textContent = error.name === "AbortError" ? "stopped" : error.message;
      entry.column.append(note);
      return error;
    }
  });
  return Promise.all(runs);
}
