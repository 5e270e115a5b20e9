"""The C accelerator's own contract: bad arguments raise, never crash (see _speedups.c)."""

import numpy as np
import pytest

_speedups = pytest.importorskip("complaint_triage._speedups")


def _table(keys, cols):
    return _speedups.build_table(np.asarray(keys, dtype=np.int64), np.asarray(cols, dtype=np.int32))


def test_build_table_sizes_and_refusals():
    slots, bits = _table([5, 7, 11], [0, 1, 2])
    assert len(slots) == 16 << bits and (1 << bits) * 7 >= 3 * 10
    with pytest.raises(ValueError, match="duplicate"):
        _table([5, 5], [0, 1])
    with pytest.raises(ValueError, match="positive"):
        _table([0], [0])
    with pytest.raises(ValueError, match="same length"):
        _table([1, 2], [0])


def _call(**over):
    wt, wb = _table([1, 2], [0, 1])  # word ids 1, 2 -> columns 0, 1
    ct, cb = _table([1], [2])  # character id 1 -> column 2
    lut = np.zeros(128, dtype=np.int32)
    lut[ord("a")] = 1
    args = dict(  # noqa: C408 - keyword names document the positional arguments
        token_seqs=[["x", "y", "zz"]], id_map={"x": 1, "y": 2}, texts=["aba"], char_lut=lut,
        wt=wt, wbits=wb, wbase=3, wlo=1, whi=2, wclosed=False, ct=ct, cbits=cb, cbase=2, clo=1, chi=1, cclosed=True,
        idf=np.ones(4), word_scale=1.0, char_scale=1.0, sublinear=True,
        sr=np.zeros(1, dtype=np.int64), sc=np.full(1, 3, dtype=np.int64), sv=np.full(1, 0.5),
    )
    args.update(over)
    return _speedups.featurize(*args.values())


def _assert_tiny_rows(result):
    """The rows ``_call()`` must give with its default arguments."""
    indptr, indices, data = (np.frombuffer(b, dtype=t) for b, t in zip(result, (np.int64, np.int32, np.float32),
                                                                        strict=True))
    assert indptr.tolist() == [0, 4]
    assert indices.tolist() == [0, 1, 2, 3]  # x, y (zz is in no feature), "a" twice, the signal
    w = 1 / np.sqrt(2)
    np.testing.assert_allclose(data, [w, w, 1.0, 0.5], rtol=1e-6)


def test_featurize_counts_a_tiny_vocabulary():
    _assert_tiny_rows(_call())


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"texts": ["a", "b"]}, ValueError),  # one token sequence per text
        ({"texts": [b"aba"]}, TypeError),
        ({"id_map": [("x", 1)]}, TypeError),
        ({"id_map": {"x": 9}}, ValueError),  # id not below the word base
        ({"id_map": {"x": "1"}}, TypeError),
        ({"wbits": 2}, ValueError),
        ({"idf": np.ones(2)}, ValueError),  # a column outside the idf vector
        ({"sc": np.full(1, 99, dtype=np.int64)}, ValueError),
        ({"sr": np.zeros(2, dtype=np.int64)}, ValueError),
        ({"token_seqs": [5]}, TypeError),
    ],
)
def test_featurize_refuses_inconsistent_arguments(over, error):
    with pytest.raises(error):
        _call(**over)
    _assert_tiny_rows(_call())  # and the next call is unaffected (the per-thread scratch is clean)


def test_featurize_asks_a_dict_subclass_for_missing_tokens():
    class Ids(dict):
        def __missing__(self, key):
            return 2 if key == "zz" else -1

    indptr, indices, _ = _call(id_map=Ids(x=1), token_seqs=[["x", "q", "zz"]])
    # q is left out (-1), so x and zz are neighbours; zz answers id 2 through __missing__
    assert np.frombuffer(indices, dtype=np.int32).tolist() == [0, 1, 2, 3]


# -- evidence -------------------------------------------------------------------------------

def _evidence(**over):
    n = 4  # columns: 0 word "x", 1 word "x y", 2 char "a", 3 signal
    weights = np.array([[1.0, 2.0, 0.5, 3.0], [0.0, -1.0, 0.0, 0.0]], dtype=np.float32)
    lut = np.zeros(128, dtype=np.int32)
    lut[ord("a")] = 1
    args = dict(  # noqa: C408 - keyword names document the positional arguments
        text="x y a", pieces=("x", "y", "a"), id_map={"x": 1, "y": 2, "a": -1},
        cols=np.arange(n, dtype=np.int32), vals=np.ones(n), weights=weights, weights_float32=True,
        n_features=n, cats=[0, 1],
        kind=np.array([1, 1, 2, 3], dtype=np.int8), key=np.array([1, 1 * 3 + 2, 1, 0], dtype=np.int64),
        length=np.array([1, 2, 1, 0], dtype=np.int8), wbase=3, char_lut=lut, cbase=2,
        signal_spans=lambda col: [(0, 1)], top=12, max_spans=3, keep=0.25, reach=10, clause_ends="。 ",
    )
    args.update(over)
    return _speedups.evidence(*args.values())


def test_evidence_of_a_tiny_vocabulary():
    # category 0: the signal (0, 1) and "x" (0, 1), "x y" (0, 3) and "a" (4, 5) merge into
    # [0, 3) and [4, 5); [0, 3) is trimmed to "x" (support 1 + 3 + 2/3 against 2/3 for " y"),
    # and the space ends its clause.  Category 1 has no positive contribution.
    assert _evidence() == [(0, 0, 1), (0, 4, 5)]
    assert _evidence(max_spans=1) == [(0, 0, 1)]
    assert _evidence(cats=[1]) == []
    as_double = {"weights": np.array([[1.0, 2.0, 0.5, 3.0]]), "weights_float32": False, "cats": [0]}
    assert _evidence(**as_double) == [(0, 0, 1), (0, 4, 5)]
    # without the signal and "x", "x y" carries [0, 3) alone, grown to no clause end
    assert _evidence(cols=np.array([1, 2], dtype=np.int32), vals=np.ones(2)) == [(0, 0, 3), (0, 4, 5)]


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"cols": np.array([0, 1, 2, 9], dtype=np.int32)}, ValueError),  # column outside the weights
        ({"vals": np.ones(3)}, ValueError),  # one value per column
        ({"cats": [2]}, ValueError),  # category row outside the weights
        ({"cats": ["0"]}, TypeError),
        ({"key": np.zeros(3, dtype=np.int64)}, ValueError),
        ({"top": 0}, ValueError),
        ({"pieces": ("x", 1)}, TypeError),
        ({"id_map": {"x": "1"}}, TypeError),
        ({"signal_spans": lambda col: [(0,)]}, TypeError),
        ({"signal_spans": lambda col: 1 / 0}, ZeroDivisionError),
        ({"text": b"x y a"}, TypeError),
    ],
)
def test_evidence_refuses_bad_arguments(over, error):
    with pytest.raises(error):
        _evidence(**over)


def test_evidence_refuses_a_signal_span_outside_the_text():
    with pytest.raises(ValueError, match="outside the text"):
        _evidence(signal_spans=lambda col: [(100, 200)])
