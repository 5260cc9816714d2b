import numpy as np
import pytest
import torch

from lstmgen.data.batches import BatchIterator, DataError, split_contiguous


def test_split_is_contiguous_last_ten_percent():
    splits = split_contiguous("abcdefghij" * 10, val_fraction=0.1)
    assert len(splits.train) == 90 and len(splits.val) == 10 and splits.test == ""
    assert splits.train + splits.val == "abcdefghij" * 10


def test_split_too_small():
    with pytest.raises(DataError, match="too few"):
        split_contiguous("ab", val_fraction=0.5)


def test_batch_layout_streams_continue_across_windows():
    tokens = np.arange(25)
    batches = BatchIterator(tokens, batch_size=3, seq_length=4)  # 8 tokens per stream
    x0, y0, first = batches.next_batch()
    x1, y1, again = batches.next_batch()
    assert first and not again
    assert x0.tolist() == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17, 18, 19]]
    assert y0.tolist() == [[1, 2, 3, 4], [9, 10, 11, 12], [17, 18, 19, 20]]
    assert x1[:, 0].tolist() == [4, 12, 20]  # window 1 continues each stream where window 0 stopped
    assert torch.equal(x1[:, 1:], y1[:, :-1])
    _, _, new_epoch = batches.next_batch()
    assert new_epoch and batches.epoch == 1


def test_cursor_resumes_exactly():
    tokens = np.arange(1000)
    a = BatchIterator(tokens, 4, 7)
    for _ in range(30):
        a.next_batch()
    b = BatchIterator(tokens, 4, 7)
    b.load_state_dict(a.state_dict())
    for _ in range(40):
        assert torch.equal(a.next_batch()[0], b.next_batch()[0])
    with pytest.raises(DataError, match="same settings"):
        BatchIterator(tokens, 5, 7).load_state_dict(a.state_dict())


def test_batch_size_too_large_for_corpus():
    with pytest.raises(DataError, match="lower --batch-size"):
        BatchIterator(np.arange(5), batch_size=10, seq_length=2)
