"""t2tlike/decoding/ids.py: the reserved ids and the id-list helpers."""
import numpy as np

from t2tlike.decoding import ids


def test_reserved_ids_are_t2ts():
    assert (ids.PAD_ID, ids.EOS_ID) == (0, 1)


def test_cut_at_eos_drops_padding_and_everything_from_the_first_eos():
    assert ids.cut_at_eos([5, 0, 6, 1, 7, 0]) == [5, 6]
    assert ids.cut_at_eos([5, 3, 1, 4, 0]) == [5, 3]
    assert ids.cut_at_eos([5, 6]) == [5, 6]
    assert ids.cut_at_eos([1, 5]) == []
    assert ids.cut_at_eos([]) == []
    got = ids.cut_at_eos(np.array([7, 8, 1, 0], np.int64))      # a dataset's numpy row
    assert got == [7, 8] and all(type(i) is int for i in got)


def test_input_ids_end_in_exactly_one_eos():
    assert ids.input_ids(np.array([4, 5, 1, 0, 0])) == [4, 5, 1]
    assert ids.input_ids([4, 5]) == [4, 5, 1]
    assert ids.input_ids([1, 1]) == [1]
    assert ids.input_ids([0, 0]) == [1]
