"""``POST /v1/render``: generated music (a completion's text) as a MIDI file, WAV audio or a piano-roll PNG.

Body: ``{"text": "<the piece: ABC or MIDI events, prompt included>", "format": "midi" | "wav" | "png"}``; the
answer is the file itself (``audio/midi``, ``audio/wav``, ``image/png``). Only a model with the abc or midi
tokenizer renders; text that is no readable piece, or a missing FluidSynth for WAV, is a 400 that says why.
Rendering runs in a worker thread (music21 and FluidSynth take a while), so the server keeps answering.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from .bodies import read_json
from .schemas import APIError

MEDIA_TYPES = {"midi": "audio/midi", "wav": "audio/wav", "png": "image/png"}


def render_bytes(text: str, tokenizer, format: str) -> bytes:
    """The file of one piece in ``format`` (a MusicError when it cannot be made)."""
    from ..music.midi import write_midi
    from ..music.render import render_piano_roll, render_wav, sample_score

    score = sample_score(text, tokenizer, "the text")
    with tempfile.TemporaryDirectory() as directory:
        midi = write_midi(score, Path(directory) / "piece.mid")
        if format == "midi":
            return midi.read_bytes()
        if format == "png":
            return render_piano_roll(score, Path(directory) / "piece.png").read_bytes()
        return render_wav(midi, Path(directory) / "piece.wav").read_bytes()


def add_render_route(app: FastAPI, model, max_body_bytes: int) -> None:
    @app.post("/v1/render")
    async def render(request: Request) -> Response:
        from ..music import MusicError

        payload = await read_json(request, max_body_bytes)
        text, format = (payload.get("text"), payload.get("format", "midi")) if isinstance(payload, dict) else (None, None)
        if not isinstance(text, str) or not text.strip():
            raise APIError(400, "'text' must be the piece to render (a completion's text, with its prompt)", "text")
        if format not in MEDIA_TYPES:
            raise APIError(400, f"'format' must be one of {', '.join(MEDIA_TYPES)}, got {format!r}", "format")
        if model.tokenizer.kind not in ("abc", "midi"):
            raise APIError(400, f"only ABC and MIDI models render; this model's tokenizer is {model.tokenizer.kind}", "text")
        try:
            data = await run_in_threadpool(render_bytes, text, model.tokenizer, format)
        except MusicError as error:
            raise APIError(400, str(error), "text") from None
        return Response(data, media_type=MEDIA_TYPES[format])
