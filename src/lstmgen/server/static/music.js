// Music models (abc or midi tokenizer): under each finished sample, its piano roll and its audio, made by
// POST /v1/render. A sample that cannot be rendered (an unfinished tune, no FluidSynth on the server) says why.
"use strict";

const MUSIC_KINDS = ["abc", "midi"];

async function renderOne(box, text, format, headers) {
  const response = await fetch("/v1/render", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ text, format }),
  });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error.message; } catch (_) { /* keep the status */ }
    const note = document.createElement("p");
    note.className = "muted small render-error";
    note.textContent = `${format}: ${message}`;
    box.append(note);
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  if (format === "png") {
    const image = document.createElement("img");
    image.className = "piano-roll";
    image.alt = "piano roll of the sample";
    image.src = url;
    box.append(image);
  } else {
    const audio = document.createElement("audio");
    audio.className = "sample-audio";
    audio.controls = true;
    audio.src = url;
    box.append(audio);
  }
}

// texts[i]: sample i's whole text (prompt included); boxes[i]: the element to add its renderings to.
export async function renderMusicSamples(kind, texts, boxes, headers) {
  if (!MUSIC_KINDS.includes(kind)) return;
  for (let i = 0; i < texts.length; i++) {
    await renderOne(boxes[i], texts[i], "png", headers);
    await renderOne(boxes[i], texts[i], "wav", headers);
  }
}
