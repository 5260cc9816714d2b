// lstmgen playground: plain JavaScript modules, no build step, no network beyond this server.
// It posts to /v1/completions with stream: true and reads the server-sent events as they arrive: one request
// for the samples view, one per temperature (all at once) for the compare view (compare.js). With logprobs,
// each token is coloured by its probability and shows its likeliest alternatives on hover (tokens.js).
// A server started with an API key needs it on /info and /v1/*: the key typed into the page is sent as
// "Authorization: Bearer <key>" and lives only in that field (never stored, never written to the console).
"use strict";

import { MAX_TEMPERATURES, compareTemperatures, parseTemperatures } from "./compare.js";
import { errorMessage, streamCompletion } from "./stream.js";
import { renderMusicSamples } from "./music.js";
import { inspectTokens, tokenPanel } from "./tokens.js";

const $ = (id) => document.getElementById(id);
const sliders = [
  ["temperature", (v) => Number(v).toFixed(2)],
  ["top-p", (v) => Number(v).toFixed(2)],
  ["length", (v) => v],
  ["samples", (v) => v],
];
let controller = null;
let tokenizerKind = ""; // the served model's tokenizer (from /info): music models get a piano roll and audio (music.js)
let vocabularySize = null; // from /info: the entropy's upper bound needs it

for (const [id, format] of sliders) {
  const input = $(id);
  const show = () => { $(`${id}-value`).textContent = format(input.value); };
  input.addEventListener("input", show);
  show();
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function authorization() {
  const key = $("api-key").value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function addInfo(list, name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

async function loadInfo() {
  try {
    const response = await fetch("/info", { headers: authorization() });
    if (response.status === 401) {
      setStatus(`${await errorMessage(response)} (type it under “API key”)`, true);
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const info = await response.json();
    const model = info.model.model;
    const tokenizer = info.model.tokenizer;
    const training = info.model.training;
    const best = info.model.best_validation || {};
    vocabularySize = tokenizer.vocab_size;
    tokenizerKind = tokenizer.kind;
    $("model-name").textContent = `model “${info.id}” · lstmgen ${info.lstmgen_version}`;
    const list = $("model-info");
    list.replaceChildren();
    addInfo(list, "id", info.id);
    addInfo(list, "network", `${model.cell.toUpperCase()} ${model.num_layers} × ${model.hidden_size}, embedding ${model.embedding_size}`);
    addInfo(list, "parameters", info.model.parameters.toLocaleString("en"));
    addInfo(list, "tokenizer", `${tokenizer.kind}, ${tokenizer.vocab_size} symbols${tokenizer.lowercase ? ", lower-cased" : ""}`);
    addInfo(list, "training", `${training.steps ?? "?"} steps, ${training.evaluations} evaluations`);
    if (best.val_bits !== undefined) {
      addInfo(list, "best val", `${best.val_bits.toFixed(3)} bits/token (perplexity ${best.val_perplexity.toFixed(2)}) at step ${best.step}`);
    }
    addInfo(list, "limits", `≤ ${info.limits.max_tokens} tokens, n ≤ ${info.limits.max_n}, prompt ≤ ${info.limits.max_prompt_tokens} tokens`);
    const rows = $("parameter-table").querySelector("tbody");
    rows.replaceChildren();
    for (const row of info.model.parameter_table) {
      const tr = document.createElement("tr");
      for (const cell of [row.name, row.shape.join("×"), row.count.toLocaleString("en")]) {
        const td = document.createElement("td");
        td.textContent = cell;
        tr.append(td);
      }
      rows.append(tr);
    }
    $("length").max = String(Math.min(info.limits.max_tokens, 2000));
    $("samples").max = String(Math.min(info.limits.max_n, 8));
    if ($("status").classList.contains("error")) setStatus("");  // a key problem, now solved
  } catch (error) {
    setStatus(`could not load the model's info: ${error.message}`, true);
  }
}

function makeOutputs(count, prompt) {
  const outputs = $("outputs");
  outputs.replaceChildren();
  const targets = [];
  for (let i = 0; i < count; i++) {
    const box = document.createElement("div");
    box.className = "sample";
    const [title, pre, text] = tokenPanel(`sample ${i + 1}`, `sample ${i + 1}`, prompt);
    box.append(title, pre);
    outputs.append(box);
    targets.push(text);
  }
  return targets;
}

// The hook for fields the page has no control for (a label, a constraint, top_k, ...): the "Advanced" box's
// JSON object, merged into every request after the page's own settings.
function extraFields() {
  const text = $("extra-fields").value.trim();
  if (text === "") return {};
  let fields;
  try {
    fields = JSON.parse(text);
  } catch (error) {
    throw new Error(`extra request fields: not valid JSON (${error.message})`);
  }
  if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
    throw new Error("extra request fields: give a JSON object, such as {\"top_k\": 40}");
  }
  return fields;
}

// The settings both views share.
function sharedSettings() {
  const body = {
    prompt: $("prompt").value,
    max_tokens: Number($("length").value),
    top_p: Number($("top-p").value),
    unknown: $("unknown").value,
  };
  const seed = $("seed").value.trim();
  if (seed !== "") body.seed = Number(seed);
  return body;
}

function comparing() {
  return $("tab-compare").getAttribute("aria-selected") === "true";
}

// Runs one view's generation with the buttons, status line and rates shared by both views.
// start(signal, count) streams and resolves when done; count(tokens) reports the tokens received so far.
async function run(start) {
  controller = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  $("rate").textContent = "–";
  $("first-token").textContent = "–";
  $("token-count").textContent = "0";
  setStatus("generating…");
  const started = performance.now();
  let firstAt = null;
  const count = (tokens) => {
    if (tokens > 0 && firstAt === null) {
      firstAt = performance.now();
      $("first-token").textContent = `${Math.round(firstAt - started)} ms`;
    }
    const seconds = (performance.now() - (firstAt ?? started)) / 1000;
    $("token-count").textContent = String(tokens);
    if (seconds > 0) $("rate").textContent = (tokens / seconds).toFixed(1);
  };
  try {
    await start(controller.signal, count);
    setStatus(`done in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  } catch (error) {
    if (error.name === "AbortError") setStatus("stopped");
    else setStatus(error.message, true);
  } finally {
    $("generate").disabled = false;
    $("stop").disabled = true;
    controller = null;
  }
}

async function generateSamples(signal, count) {
  const colour = $("colour-tokens").checked;
  const samples = Number($("samples").value);
  const body = {
    ...sharedSettings(),
    temperature: Number($("temperature").value),
    n: samples,
    stream: true,
    stream_options: { include_usage: true },
    ...(colour ? { logprobs: 5 } : {}),
    ...extraFields(),
  };
  const targets = makeOutputs(samples, body.prompt);
  let pieces = 0; // one streamed piece per sample per step: about one token each
  await streamCompletion(body, {
    headers: authorization(),
    signal,
    onChunk: (chunk) => {
      for (const choice of chunk.choices) {
        if (choice.text || choice.logprobs) targets[choice.index].add(choice.text, choice.logprobs);
        if (choice.text) pieces += 1;
      }
      count(chunk.usage ? chunk.usage.completion_tokens : pieces);
    },
  });
  await renderMusicSamples(tokenizerKind, targets.map((t) => body.prompt + t.text), targets.map((t) => t.element.closest(".sample")),
                           authorization());
}

async function generateComparison(signal, count) {
  const temperatures = parseTemperatures($("temperatures").value);
  const body = { ...sharedSettings(), ...extraFields() };
  const errors = await compareTemperatures({
    container: $("columns"), prompt: body.prompt, body, temperatures, headers: authorization(), signal, vocabularySize, onTokens: count,
  });
  const failed = errors.filter((error) => error !== null);
  if (failed.length) throw failed[0]; // each column shows its own; the status line the first
}

function generate() {
  return run(comparing() ? generateComparison : generateSamples);
}

// The two views as tabs (arrow keys move between them, as the ARIA tabs pattern has it).
function selectView(compare) {
  for (const [tab, panel, selected] of [["tab-samples", "panel-samples", !compare], ["tab-compare", "panel-compare", compare]]) {
    $(tab).setAttribute("aria-selected", String(selected));
    $(tab).tabIndex = selected ? 0 : -1;
    $(panel).hidden = !selected;
  }
  $("sample-settings").hidden = compare;
  $("samples-setting").hidden = compare;
  $("colour-tokens").disabled = compare; // the compare view always asks for logprobs: its measures need them
  $("compare-settings").hidden = !compare;
  $("generate").textContent = compare ? "Compare" : "Generate";
  document.querySelector("main").classList.toggle("comparing", compare);
}

for (const id of ["tab-samples", "tab-compare"]) {
  $(id).addEventListener("click", () => selectView(id === "tab-compare"));
  $(id).addEventListener("keydown", (event) => {
    if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
    event.preventDefault();
    const compare = event.key === "End" || (event.key !== "Home" && id === "tab-samples");
    selectView(compare);
    $(compare ? "tab-compare" : "tab-samples").focus();
  });
}
$("temperatures").title = `up to ${MAX_TEMPERATURES} temperatures, streamed at once`;
inspectTokens($("results"), $("token-tip"));
$("generate").addEventListener("click", generate);
$("api-key").addEventListener("change", loadInfo);
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
for (const id of ["prompt", "temperatures", "extra-fields"]) {
  $(id).addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !$("generate").disabled) generate();
  });
}
loadInfo();
