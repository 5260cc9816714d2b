"""music.abc: tunes split at X:, the normal form, bad tunes named by file and X: number, the meter check."""

from __future__ import annotations

import pytest

from lstmgen.music import MusicError
from lstmgen.music.abc import normalise, read_tunes, split_tunes

FILE = """% a collection
X:7
T:First
C:Trad
M:4/4
L:1/8
K:G
|:GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA:|

X:8
T:No key
M:3/4
ABc|

X:9
T:Second
M:3/4
L:1/8
%% a directive
K:D
A2 B2 c2|d6|]
"""


def test_split_and_normalise_keep_the_music_and_drop_titles():
    tunes = split_tunes(FILE)
    assert [tune.number for tune in tunes] == ["7", "8", "9"]
    assert normalise(tunes[0], "f.abc") == "X:1\nM:4/4\nL:1/8\nK:G\n|:GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA:|\n"


def test_a_bad_tune_is_named_by_file_and_number_and_skipped_among_good_ones():
    with pytest.raises(MusicError, match=r"f\.abc: tune X:8 has no K:"):
        normalise(split_tunes(FILE)[1], "f.abc")
    found = read_tunes(FILE, "f.abc")
    assert len(found.texts) == 2 and len(found.skipped) == 1 and "X:8" in found.skipped[0]
    junk = read_tunes("X:3\nK:C\nAB\x01\x02cd|\n", "g.abc")
    assert junk.texts == [] and junk.skipped == ["g.abc: tune X:3 holds characters that are not ABC notation: '\\x01', '\\x02'"]


def test_bar_check():
    pytest.importorskip("music21", reason="parsing ABC needs the music extra")
    from lstmgen.music.abc import tune_passes

    header = "X:1\nM:4/4\nL:1/8\nK:G\n"
    assert tune_passes(header + "GABc dedB|dedB dedB|c2ec B2dB|G8|]\n") == (True, True)
    assert tune_passes(header + "AG|B2B2 B2AG|B2B2 B2g2|B2B2 B4|\n") == (True, True)  # a pickup and a short last bar
    assert tune_passes(header + "GABc dedB|dedB dB|c2ec B2dB|G8|]\n") == (True, False)  # a short bar in the middle
    assert tune_passes(header + "GABc dedB|dedB dedB dedB|c2ec B2dB|G8|]\n") == (True, False)  # a long bar
    assert tune_passes(header + "|:GABc dedB|dedB dB:|c2ec B2dB|G8|]\n") == (True, True)  # short beside a repeat
    assert tune_passes("X:1\nK:G\n") == (False, False)  # no notes
