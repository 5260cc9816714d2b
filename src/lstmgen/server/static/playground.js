// lstmgen playground: plain JavaScript, no build step, no network beyond this server.
// It posts to /v1/completions with stream: true and reads the server-sent events as they arrive.
// A server started with an API key needs it on /info and /v1/*: the key typed into the page is sent as
// "Authorization: Bearer <key>" and lives only in that field (never stored, never written to the console).
"use strict";

const $ = (id) => document.getElementById(id);
const sliders = [
  ["temperature", (v) => Number(v).toFixed(2)],
  ["top-p", (v) => Number(v).toFixed(2)],
  ["length", (v) => v],
  ["samples", (v) => v],
];
let controller = null;
let tokenizerKind = "";  // the served model's tokenizer (from /info)

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
    tokenizerKind = tokenizer.kind;  // music models get a piano roll and audio under each sample (music.js)
    const training = info.model.training;
    const best = info.model.best_validation || {};
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
    const title = document.createElement("h3");
    title.textContent = `sample ${i + 1}`;
    const pre = document.createElement("pre");
    const promptSpan = document.createElement("span");
    promptSpan.className = "prompt-text";
    promptSpan.textContent = prompt;
    const generated = document.createElement("span");
    generated.className = "generated";
    pre.append(promptSpan, generated);
    box.append(title, pre);
    outputs.append(box);
    targets.push(generated);
  }
  return targets;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body.error ? body.error.message : JSON.stringify(body);
  } catch (_) {
    return `HTTP ${response.status}`;
  }
}

async function generate() {
  const prompt = $("prompt").value;
  const count = Number($("samples").value);
  const body = {
    prompt,
    max_tokens: Number($("length").value),
    temperature: Number($("temperature").value),
    top_p: Number($("top-p").value),
    n: count,
    stream: true,
    stream_options: { include_usage: true },
    unknown: $("unknown").value,
  };
  const seed = $("seed").value.trim();
  if (seed !== "") body.seed = Number(seed);

  const targets = makeOutputs(count, prompt);
  controller = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  $("rate").textContent = "–";
  $("first-token").textContent = "–";
  $("token-count").textContent = "0";
  setStatus("generating…");
  const started = performance.now();
  let firstAt = null;
  let pieces = 0; // one streamed piece per sample per step: about one token each
  const showRate = (tokens) => {
    const seconds = (performance.now() - (firstAt ?? started)) / 1000;
    $("token-count").textContent = String(tokens);
    if (seconds > 0) $("rate").textContent = (tokens / seconds).toFixed(1);
  };

  try {
    const response = await fetch("/v1/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authorization() },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let finished = false;
    while (!finished) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") { finished = true; break; }
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          for (const choice of chunk.choices) {
            if (choice.text) {
              if (firstAt === null) {
                firstAt = performance.now();
                $("first-token").textContent = `${Math.round(firstAt - started)} ms`;
              }
              targets[choice.index].textContent += choice.text;
              pieces += 1;
            }
          }
          if (chunk.usage) {
            showRate(chunk.usage.completion_tokens);
          } else if (pieces) {
            showRate(pieces);
          }
        }
      }
    }
    setStatus(`done in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    if (window.renderMusicSamples) {
      await window.renderMusicSamples(tokenizerKind, targets.map((t) => prompt + t.textContent),
                                      targets.map((t) => t.closest(".sample")), authorization());
    }
  } catch (error) {
    if (error.name === "AbortError") setStatus("stopped");
    else setStatus(error.message, true);
  } finally {
    $("generate").disabled = false;
    $("stop").disabled = true;
    controller = null;
  }
}

$("generate").addEventListener("click", generate);
$("api-key").addEventListener("change", loadInfo);
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !$("generate").disabled) generate();
});
loadInfo();
