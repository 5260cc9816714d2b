"""A generated sample as files a person can hear and see: .abc/.mid/.txt, WAV and a piano-roll PNG.

ABC goes to MIDI through music21; MIDI events (the midi tokenizer) through miditok and symusic. Audio is
rendered by the ``fluidsynth`` command with a General MIDI SoundFont (``$LSTMGEN_SOUNDFONT``, else the first
of ``SOUNDFONTS`` found: Debian's ``timgm6mb-soundfont`` or ``fluid-soundfont-gm``); the piano roll is drawn
with matplotlib (the plots extra).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from .errors import MusicError, need

RENDERINGS = ("wav", "png")
SOUNDFONTS = ("/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2",
              "/usr/share/soundfonts/default.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2")
INSTALL_HINT = ("install FluidSynth and a General MIDI SoundFont (Debian/Ubuntu: apt-get install fluidsynth timgm6mb-soundfont; "
                "macOS: brew install fluid-synth and set LSTMGEN_SOUNDFONT to a .sf2 file)")
SUFFIXES = {"abc": ".abc", "midi": ".mid"}  # other kinds write text


def parse_renderings(value: str) -> tuple[str, ...]:
    """``--render wav,png`` as a tuple; unknown names are a MusicError listing the known ones."""
    names = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in RENDERINGS]
    if unknown:
        raise MusicError(f"--render takes {', '.join(RENDERINGS)} (comma-separated), got {', '.join(unknown)}")
    return names


def soundfont() -> Path | None:
    chosen = os.environ.get("LSTMGEN_SOUNDFONT")
    if chosen:
        return Path(chosen) if Path(chosen).is_file() else None
    return next((Path(path) for path in SOUNDFONTS if Path(path).is_file()), None)


def synthesizer() -> tuple[str, Path]:
    """The fluidsynth command and the SoundFont, or a MusicError saying what to install."""
    command = shutil.which("fluidsynth")
    if command is None:
        raise MusicError(f"rendering WAV needs the fluidsynth command, which is not installed: {INSTALL_HINT}")
    font = soundfont()
    if font is None:
        where = os.environ.get("LSTMGEN_SOUNDFONT") or ", ".join(SOUNDFONTS)
        raise MusicError(f"rendering WAV needs a General MIDI SoundFont; none found at {where}: {INSTALL_HINT}")
    return command, font


def sample_score(text: str, tokenizer, name: str = "the sample"):
    """The symusic Score of a sample: ABC through music21, MIDI events through the tokenizer."""
    if tokenizer.kind == "midi":
        score = tokenizer.decode_score(text)
        if score.note_num() == 0:
            raise MusicError(f"{name} holds no notes")
        return score
    if tokenizer.kind == "abc":
        from .abc import parse
        from .midi import score_from_music21

        return score_from_music21(parse(text, name), name)
    raise MusicError(f"only ABC and MIDI models render to sound and pictures; this model's tokenizer is {tokenizer.kind}")


def render_wav(midi_path: Path, wav_path: Path, sample_rate: int = 44100) -> Path:
    command, font = synthesizer()
    try:
        subprocess.run([command, "-ni", "-q", "-F", str(wav_path), "-r", str(sample_rate), str(font), str(midi_path)],
                       check=True, capture_output=True, timeout=300)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        detail = getattr(error, "stderr", b"") or b""
        raise MusicError(f"fluidsynth could not render {midi_path}: {detail.decode(errors='replace')[-300:] or error}") from None
    if not wav_path.is_file() or wav_path.stat().st_size <= 44:
        raise MusicError(f"fluidsynth wrote no audio for {midi_path}")
    return wav_path


def render_piano_roll(score, png_path: Path, title: str = "") -> Path:
    """A piano roll: one bar per note, time in quarter notes across, MIDI pitch up."""
    matplotlib = need("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quarter = score.ticks_per_quarter
    figure, axes = plt.subplots(figsize=(10, 4))
    for track in score.tracks:
        bars = [(note.time / quarter, max(note.duration, 1) / quarter) for note in track.notes]
        for (start, width), note in zip(bars, track.notes):
            axes.broken_barh([(start, width)], (note.pitch - 0.4, 0.8))
    axes.set_xlabel("time (quarter notes)")
    axes.set_ylabel("MIDI pitch")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return png_path


def write_sample(text: str, tokenizer, directory: str | os.PathLike, stem: str, renderings: Sequence[str] = ()) -> list[Path]:
    """Write one sample as a file (.abc, .mid, or .txt), with the renderings asked for beside it; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = SUFFIXES.get(tokenizer.kind, ".txt")
    main = directory / f"{stem}{suffix}"
    score = None
    if tokenizer.kind == "midi":
        from .midi import write_midi

        score = sample_score(text, tokenizer, stem)
        write_midi(score, main)
    else:
        main.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    written = [main]
    if renderings:
        score = score if score is not None else sample_score(text, tokenizer, str(main))
        if "png" in renderings:
            written.append(render_piano_roll(score, directory / f"{stem}.png", stem))
        if "wav" in renderings:
            from .midi import write_midi

            midi = main if main.suffix == ".mid" else write_midi(score, directory / f"{stem}.mid")
            written.extend([midi] if midi != main else [])
            written.append(render_wav(midi, directory / f"{stem}.wav"))
    return written
