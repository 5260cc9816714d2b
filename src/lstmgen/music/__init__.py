"""Music in and out: ABC tunes and MIDI pieces as text the tokenizers read, and files a person can hear and see.

    abc.py        ABC tunes: split a file into tunes at their ``X:`` lines, the normal form lstmgen trains on,
                  the checks that reject a bad tune (naming its ``X:`` number), parsing with music21, the meter check
    midi.py       MIDI pieces: reading .mid/.midi and MusicXML files with clear errors (corrupt, no notes), the
                  events text of the midi tokenizer, writing .mid files
    corpora.py    the named corpora read from the installed music21 package: ``abc-folk`` and ``bach-chorales``
    render.py     a sample to files: .abc/.mid/.txt, WAV through FluidSynth with a General MIDI SoundFont, a piano-roll PNG
    measures.py   musical measures of samples against held-out pieces: parse and meter shares (ABC); pitch-class
                  histogram distance, notes in key, note density, polyphony (MIDI)

music21, miditok and symusic come with the ``music`` extra; every function that needs one says so when it
is missing (``MusicError``), and nothing here is imported unless music is asked for.
"""

from .errors import MusicError, need

__all__ = ["MusicError", "need"]
