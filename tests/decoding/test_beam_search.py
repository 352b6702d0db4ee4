"""t2tlike/decoding/beam_search.py, driven by hand-made deterministic step functions.

Vocabulary: 0 = PAD, 1 = EOS, 2.. = tokens. A step function's logits come from a fixed
table indexed by (batch row, step, previous token), or from a table indexed by a hash of
the whole history kept in `states` (which checks that states follow their beams).
"""
import numpy as np
import pytest
import tensorflow as tf

from t2tlike.decoding import beam_search
from t2tlike.decoding.beam_search import EOS_ID, beam_search as run_beam, greedy_search

TINY = 1e-12          # probability of "never": log(1e-12) ~ -27.6


def logits_from_probs(probs):
    return np.log(np.maximum(np.asarray(probs, np.float64), TINY)).astype(np.float32)


def log_softmax(x):
    x = np.asarray(x, np.float64)
    return x - np.log(np.exp(x - x.max()).sum()) - x.max()


class TableStep:
    """step_fn(prev, i, states): logits = table[row, min(i, steps - 1), prev].

    table: [rows, steps, vocab, vocab] logits; states = {"row": [n] int32}.
    """

    def __init__(self, table):
        self.table = np.asarray(table, np.float32)
        self.calls = 0

    @classmethod
    def by_prev(cls, rows_of_probs):
        """One batch row, independent of the step: {prev: probs over the vocab}."""
        vocab = len(next(iter(rows_of_probs.values())))
        table = np.full((1, 1, vocab, vocab), np.log(TINY), np.float32)
        table[..., EOS_ID] = 0.0          # rows not given: end at once
        for prev, probs in rows_of_probs.items():
            table[0, 0, prev] = logits_from_probs(probs)
        return cls(table)

    def __call__(self, prev, i, states):
        self.calls += 1
        steps = self.table.shape[1]
        step = tf.fill(tf.shape(prev), tf.minimum(i, steps - 1))
        index = tf.stack([states["row"], step, prev], axis=1)
        return tf.gather_nd(tf.constant(self.table), index), states

    def log_prob(self, row, seq):
        """Sum of log-probs of seq up to and including its first EOS; and that length."""
        total, prev = 0.0, 0
        for t, token in enumerate(seq):
            total += log_softmax(self.table[row, min(t, self.table.shape[1] - 1), prev])[token]
            if token == EOS_ID:
                return total, t + 1
            prev = token
        return total, len(seq)

    def greedy_reference(self, row, decode_length):
        seq, prev = [], 0
        for t in range(decode_length):
            token = int(np.argmax(self.table[row, min(t, self.table.shape[1] - 1), prev]))
            seq.append(token)
            if token == EOS_ID:
                break
            prev = token
        return seq + [0] * (decode_length - len(seq))


class HistoryStep:
    """Logits depend on the whole history through a hash kept in states["hash"].

    If beam search did not reorder states with their beams, the hash (and so the logits)
    would belong to another hypothesis and the returned scores would not match.
    """
    MOD = 997

    def __init__(self, vocab, seed=0):
        rng = np.random.default_rng(seed)
        self.table = (2.0 * rng.normal(size=(self.MOD, vocab))).astype(np.float32)
        self.table[:, 0] = -30.0          # no padding tokens

    def _next_hash(self, h, prev):
        return (h * 31 + prev + 1) % self.MOD

    def __call__(self, prev, i, states):
        h = tf.where(i > 0, self._next_hash(states["hash"], prev), states["hash"])
        return tf.gather(tf.constant(self.table), h), {**states, "hash": h}

    def log_prob(self, row_hash, seq):
        h, total = row_hash, 0.0
        for t, token in enumerate(seq):
            if t > 0:
                h = self._next_hash(h, seq[t - 1])
            total += log_softmax(self.table[h])[token]
            if token == EOS_ID:
                return total, t + 1
        return total, len(seq)


def random_table(seed, rows=2, steps=6, vocab=6):
    rng = np.random.default_rng(seed)
    table = (2.0 * rng.normal(size=(rows, steps, vocab, vocab))).astype(np.float32)
    table[..., 0] = -30.0          # no padding tokens
    return table


def beams(step, batch, k, decode_length, alpha=0.6, stop_early=True, early_stopping=False):
    states = {"row": beam_search.tile_beams(tf.range(batch), k)}
    ids, scores = run_beam(step, batch, k, decode_length, states, alpha=alpha,
                           stop_early=stop_early, early_stopping=early_stopping)
    return ids.numpy(), scores.numpy()


# A table where greedy search is myopic: 2 is the likelier first token, but after 2 the
# best continuation is weak, while after 3 ending is almost certain.
#           pad  EOS   2     3
MYOPIC = {0: [0.0, 0.0, 0.6, 0.4],
          2: [0.0, 0.4, 0.3, 0.3],
          3: [0.0, 0.9, 0.05, 0.05]}


# -- helpers ------------------------------------------------------------------------------
@pytest.mark.parametrize("length, alpha, expected", [
    (1, 0.6, 1.0), (7, 1.0, 2.0), (3, 0.0, 1.0), (10, 0.6, (15 / 6) ** 0.6), (4, 2.0, 2.25)])
def test_length_penalty_formula(length, alpha, expected):
    assert float(beam_search.length_penalty(length, alpha)) == pytest.approx(expected, rel=1e-6)


def test_tile_beams_repeats_each_entry():
    t = tf.constant([[1, 2], [3, 4]])
    np.testing.assert_array_equal(beam_search.tile_beams(t, 3).numpy(),
                                  [[1, 2], [1, 2], [1, 2], [3, 4], [3, 4], [3, 4]])


# -- greedy -------------------------------------------------------------------------------
def test_greedy_picks_the_argmax_and_stops_at_eos_with_zeros_after():
    step = TableStep.by_prev({0: [0, .1, .5, .4], 2: [0, .2, .3, .5], 3: [0, .6, .3, .1]})
    ids, scores = greedy_search(step, 1, 8, {"row": tf.zeros([1], tf.int32)})
    assert ids.shape == (1, 8)
    assert ids.numpy().tolist() == [[2, 3, 1, 0, 0, 0, 0, 0]]
    assert float(scores[0]) == pytest.approx(np.log(.5 * .5 * .6), rel=1e-5)
    assert step.calls == 3          # the loop ends once every sequence has ended


def test_greedy_per_batch_row_and_step_dependent_table():
    table = random_table(4, rows=3, steps=5, vocab=5)
    table[2, :, :, EOS_ID] = -30.0             # row 2 never ends
    step = TableStep(table)
    ids, scores = greedy_search(step, 3, 7, {"row": tf.range(3)})
    for row in range(3):
        expected = step.greedy_reference(row, 7)
        assert ids[row].numpy().tolist() == expected
        assert float(scores[row]) == pytest.approx(step.log_prob(row, expected)[0], rel=1e-5)
    assert EOS_ID not in ids[2].numpy().tolist() and 0 not in ids[2].numpy().tolist()


def test_greedy_states_are_passed_through():
    # logits from a history hash in states: greedy must thread the states step to step
    step = HistoryStep(vocab=5, seed=3)
    ids, scores = greedy_search(step, 2, 6, {"hash": tf.constant([5, 77])})
    for row, h in enumerate([5, 77]):
        seq = ids[row].numpy().tolist()
        log_prob, _ = step.log_prob(h, seq)
        assert float(scores[row]) == pytest.approx(log_prob, rel=1e-5)


# -- beam ---------------------------------------------------------------------------------
def test_beam_search_beats_myopic_greedy():
    step = TableStep.by_prev(MYOPIC)
    greedy_ids, greedy_scores = greedy_search(step, 1, 5, {"row": tf.zeros([1], tf.int32)})
    assert greedy_ids.numpy().tolist() == [[2, 1, 0, 0, 0]]
    assert float(greedy_scores[0]) == pytest.approx(np.log(0.6 * 0.4), rel=1e-5)

    ids, scores = beams(step, 1, 2, 5, alpha=0.6)
    assert ids.shape == (1, 2, 5) and scores.shape == (1, 2)
    assert ids[0].tolist() == [[3, 1, 0, 0, 0], [2, 1, 0, 0, 0]]
    best_log_prob, length = step.log_prob(0, ids[0, 0])
    assert best_log_prob == pytest.approx(np.log(0.4 * 0.9), rel=1e-5)
    assert best_log_prob > float(greedy_scores[0])
    assert scores[0, 0] == pytest.approx(best_log_prob / ((5 + length) / 6) ** 0.6, rel=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_are_log_probs_divided_by_the_length_penalty_and_sorted(alpha, seed):
    step = TableStep(random_table(seed, rows=2, steps=6, vocab=6))
    ids, scores = beams(step, 2, 3, 6, alpha=alpha)
    for row in range(2):
        for beam in range(3):
            assert scores[row, beam] > -1e6    # every slot holds a finished hypothesis
            log_prob, length = step.log_prob(row, ids[row, beam])
            assert EOS_ID in ids[row, beam].tolist()
            assert not ids[row, beam, length:].any()          # zeros after EOS
            assert scores[row, beam] == pytest.approx(
                log_prob / ((5.0 + length) / 6.0) ** alpha, rel=1e-4, abs=1e-5)
        assert (np.diff(scores[row]) <= 1e-6).all()           # best first


def test_length_penalty_changes_the_winner():
    # [1] (end at once) has log-prob log(.5); [2, 1] has log(.45): alpha 0 prefers the
    # short one, alpha 1 the long one (-0.798 / (7/6) > -0.693 / 1).
    step = TableStep.by_prev({0: [0, .5, .5, 0], 2: [0, .9, .05, .05]})
    ids, _ = beams(step, 1, 2, 4, alpha=0.0)
    assert ids[0, 0].tolist() == [1, 0, 0, 0]
    ids, _ = beams(step, 1, 2, 4, alpha=1.0)
    assert ids[0, 0].tolist() == [2, 1, 0, 0]


def test_states_follow_their_beams():
    step = HistoryStep(vocab=6, seed=1)
    k, start = 3, [11, 500]
    states = {"hash": beam_search.tile_beams(tf.constant(start), k)}
    ids, scores = run_beam(step, 2, k, 6, states, alpha=0.6, stop_early=False)
    for row in range(2):
        for beam in range(k):
            log_prob, length = step.log_prob(start[row], ids[row, beam].numpy().tolist())
            assert float(scores[row, beam]) == pytest.approx(
                log_prob / ((5.0 + length) / 6.0) ** 0.6, rel=1e-4, abs=1e-5)


def test_beam_search_finds_the_exhaustive_best():
    # Small enough to enumerate every hypothesis; a wide beam must find the best one.
    vocab, length, alpha = 4, 4, 0.6
    step = TableStep(random_table(7, rows=1, steps=4, vocab=vocab))
    best, best_score = None, -np.inf
    import itertools
    for n in range(1, length + 1):
        for prefix in itertools.product(range(2, vocab), repeat=n - 1):
            seq = list(prefix) + [EOS_ID]
            log_prob, _ = step.log_prob(0, seq)
            score = log_prob / ((5.0 + n) / 6.0) ** alpha
            if score > best_score:
                best, best_score = seq, score
    ids, scores = beams(step, 1, 8, length, alpha=alpha, stop_early=False)
    assert ids[0, 0].tolist() == best + [0] * (length - len(best))
    assert scores[0, 0] == pytest.approx(best_score, rel=1e-5)


def test_early_stopping_gives_the_same_result_and_saves_steps():
    step = TableStep.by_prev(MYOPIC)
    early_ids, early_scores = beams(step, 1, 2, 20, stop_early=True)
    early_calls, step.calls = step.calls, 0
    full_ids, full_scores = beams(step, 1, 2, 20, stop_early=False)
    np.testing.assert_array_equal(early_ids, full_ids)
    np.testing.assert_allclose(early_scores, full_scores, rtol=1e-6)
    assert step.calls == 20 and early_calls < 20


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [2, 3])
def test_early_stopping_keeps_the_best_beam(seed, k):
    step = TableStep(random_table(seed, rows=2, steps=6, vocab=5))
    early_ids, early_scores = beams(step, 2, k, 6, stop_early=True)
    full_ids, full_scores = beams(step, 2, k, 6, stop_early=False)
    np.testing.assert_array_equal(early_ids[:, 0], full_ids[:, 0])
    np.testing.assert_allclose(early_scores[:, 0], full_scores[:, 0], rtol=1e-6)


def test_early_stopping_gives_the_same_n_best_when_few_hypotheses_finish_early():
    #       pad  EOS   2     3     4     5
    step = TableStep.by_prev({0: [0, 0, .85, .05, .05, .05],
                              2: [0, .9, .025, .025, .025, .025],
                              3: [0, TINY, .25, .25, .25, .25],
                              4: [0, TINY, .25, .25, .25, .25],
                              5: [0, TINY, .25, .25, .25, .25]})
    full_ids, full_scores = beams(step, 1, 2, 6, stop_early=False)
    assert (full_scores > -1e6).all()
    early_ids, early_scores = beams(step, 1, 2, 6, stop_early=True)
    np.testing.assert_array_equal(early_ids, full_ids)
    np.testing.assert_allclose(early_scores, full_scores, rtol=1e-6)


def test_fairseq_early_stopping_ends_once_beam_hypotheses_have_finished():
    # MYOPIC, beam 2: after two steps "3 EOS" (p .36) and "2 EOS" (p .24) have finished,
    # but "2 2" (p .18) is alive and T2T's bound (it might still win at length 20, where
    # the length penalty flatters it most) keeps the search going.
    step = TableStep.by_prev(MYOPIC)
    ids, scores = beams(step, 1, 2, 20, early_stopping=True)
    assert step.calls == 2
    assert ids[0, 0, :2].tolist() == [3, EOS_ID] and ids[0, 1, :2].tolist() == [2, EOS_ID]
    assert not ids[0, :, 2:].any()
    penalty = beam_search.length_penalty(2, 0.6).numpy()
    np.testing.assert_allclose(scores[0], np.log([0.36, 0.24]) / penalty, rtol=1e-5)
    step.calls = 0
    bound_ids, _ = beams(step, 1, 2, 20)
    assert step.calls > 2
    assert bound_ids[0, 0].tolist() == ids[0, 0].tolist()


def test_no_finished_hypothesis_returns_the_live_beams():
    # EOS is never among the top 2k candidates, so nothing finishes.
    vocab = 8
    probs = [0, TINY] + [0.5, 0.3, 0.1, 0.05, 0.03, 0.02]
    step = TableStep.by_prev({p: probs for p in range(vocab)})
    ids, scores = beams(step, 1, 1, 3, alpha=0.6)
    assert ids[0].tolist() == [[2, 2, 2]]
    expected = 3 * np.log(0.5) / ((5 + 3) / 6) ** 0.6
    assert scores[0, 0] == pytest.approx(expected, rel=1e-5)


def test_beam_search_runs_inside_tf_function():
    step = TableStep(random_table(3, rows=2, steps=6, vocab=6))
    states = {"row": beam_search.tile_beams(tf.range(2), 3)}
    eager = run_beam(step, 2, 3, 6, states)
    graph = tf.function(lambda s: run_beam(step, 2, 3, 6, s))(states)
    np.testing.assert_array_equal(eager[0].numpy(), graph[0].numpy())
    np.testing.assert_allclose(eager[1].numpy(), graph[1].numpy(), rtol=1e-6)


# -- prompts: a forced prefix per row, and a length limit per row ---------------------------
def forced_log_prob(step, start, seq, prefix_len):
    """HistoryStep log-prob of seq (up to EOS) minus that of its first prefix_len tokens."""
    total, length = step.log_prob(start, seq)
    forced, _ = step.log_prob(start, seq[:prefix_len]) if prefix_len else (0.0, 0)
    return total - forced, length


def run_prompted(search, step, prefixes, limits, k=None, decode_length=None, **kwargs):
    """Runs greedy (k None) or beam search on rows `prefixes` (lists of ids, right-padded
    here) with per-row max_length `limits`; states {"row": b} pick each row's table."""
    batch = len(prefixes)
    width = max(1, max(len(p) for p in prefixes))
    prefix = tf.constant([p + [0] * (width - len(p)) for p in prefixes], tf.int32)
    rows = tf.constant(kwargs.pop("rows", list(range(batch))), tf.int32)
    length = decode_length or max(limits)
    if k is None:
        return search(step, batch, length, {"row": rows}, prefix=prefix,
                      max_length=tf.constant(limits), **kwargs)
    return search(step, batch, k, length, {"row": beam_search.tile_beams(rows, k)},
                  prefix=prefix, max_length=tf.constant(limits), **kwargs)


def test_prefix_lengths_stop_at_padding_or_eos():
    got = beam_search.prefix_lengths(tf.constant([[5, 3, 0, 4], [2, 1, 3, 3], [0, 2, 2, 2],
                                                  [2, 2, 2, 2]]))
    assert got.numpy().tolist() == [2, 1, 0, 4]
    assert beam_search.prefix_lengths(tf.zeros([3, 0], tf.int32)).numpy().tolist() == [0, 0, 0]


def test_greedy_forces_the_prefix_and_scores_only_the_continuation():
    # From nothing greedy says [2, 1]; forced to start with 3, it goes on [3, 2, 1].
    step = TableStep.by_prev({0: [0, .1, .5, .4], 2: [0, .6, .3, .1], 3: [0, .2, .5, .3]})
    ids, scores = run_prompted(greedy_search, step, [[3], [3, 3], []], [5, 5, 5], rows=[0, 0, 0])
    assert ids.numpy().tolist() == [[3, 2, 1, 0, 0], [3, 3, 2, 1, 0], [2, 1, 0, 0, 0]]
    np.testing.assert_allclose(scores.numpy(), np.log([.5 * .6, .5 * .6, .5 * .6]), rtol=1e-5)


def test_greedy_rows_stop_at_their_own_max_length():
    # Never ends: each row runs exactly to its limit, then holds zeros.
    step = TableStep.by_prev({p: [0, TINY, .7, .3] for p in range(4)})
    ids, _ = run_prompted(greedy_search, step, [[3], [3, 3, 3], []], [3, 5, 2], rows=[0, 0, 0])
    assert ids.numpy().tolist() == [[3, 2, 2, 0, 0], [3, 3, 3, 2, 2], [2, 2, 0, 0, 0]]


# Greedy on every table; beams of 1, 2 and 3 on some of them (a beam case costs more).
@pytest.mark.parametrize("k, seed", [(None, 0), (None, 1), (None, 2), (1, 0), (2, 1), (3, 2),
                                     (3, 0)])
def test_prompted_rows_decode_as_they_would_alone(k, seed):
    """Batched rows with prompts and limits of different lengths give what each row gives
    by itself with decode_length = its limit (zeros after, scores equal)."""
    step = TableStep(random_table(seed, rows=4, steps=7, vocab=6))
    rng = np.random.default_rng(seed)
    prefixes = [[int(t) for t in rng.integers(2, 6, size=n)] for n in (3, 0, 1, 5)]
    limits = [len(p) + extra for p, extra in zip(prefixes, (2, 4, 6, 1))]
    search = greedy_search if k is None else run_beam
    ids, scores = run_prompted(search, step, prefixes, limits, k=k)
    for row, (prefix, limit) in enumerate(zip(prefixes, limits)):
        one_ids, one_scores = run_prompted(search, step, [prefix], [limit], k=k, rows=[row])
        got = ids[row].numpy()
        np.testing.assert_array_equal(got[..., :limit], one_ids[0].numpy())
        assert not got[..., limit:].any()
        np.testing.assert_allclose(scores[row].numpy(), one_scores[0].numpy(), rtol=1e-5)
        best = got if k is None else got[0]
        assert best[:len(prefix)].tolist() == prefix


@pytest.mark.parametrize("k", [2, 3])
def test_beams_start_with_the_prefix_and_states_follow_them(k):
    step = HistoryStep(vocab=6, seed=4)
    start, prefixes = [11, 500], [[4, 2, 5], [3]]
    states = {"hash": beam_search.tile_beams(tf.constant(start), k)}
    prefix = tf.constant([p + [0] * (3 - len(p)) for p in prefixes])
    ids, scores = run_beam(step, 2, k, 8, states, alpha=0.6, stop_early=False, prefix=prefix)
    for row in range(2):
        for beam in range(k):
            seq = ids[row, beam].numpy().tolist()
            assert seq[:len(prefixes[row])] == prefixes[row]
            log_prob, length = forced_log_prob(step, start[row], seq, len(prefixes[row]))
            assert float(scores[row, beam]) == pytest.approx(
                log_prob / ((5.0 + length) / 6.0) ** 0.6, rel=1e-4, abs=1e-5)


def test_prompted_search_runs_inside_tf_function():
    step = TableStep(random_table(5, rows=2, steps=6, vocab=6))
    prefix = tf.constant([[2, 3], [4, 0]])

    def run(prefix):
        return run_beam(step, 2, 2, 6, {"row": beam_search.tile_beams(tf.range(2), 2)},
                        prefix=prefix, max_length=tf.constant([6, 4]))
    eager = run(prefix)
    graph = tf.function(run)(prefix)
    np.testing.assert_array_equal(eager[0].numpy(), graph[0].numpy())
    np.testing.assert_allclose(eager[1].numpy(), graph[1].numpy(), rtol=1e-6)


# -- finished entries leave the batch; a per-entry context ---------------------------------
class ContextStep(TableStep):
    """TableStep that reads its table row from the per-entry context ({"row": [m]}), each
    row shared by the n / m consecutive hypotheses of its entry, and records n per call."""

    def __init__(self, table):
        super().__init__(table)
        self.sizes = []

    def __call__(self, prev, i, states, context):
        n, m = tf.shape(prev)[0], tf.shape(context["row"])[0]
        tf.py_function(lambda a, b: self.sizes.append((int(a), int(b))), [n, m], [])
        logits, _ = super().__call__(prev, i, {"row": tf.repeat(context["row"], n // m)})
        return logits, states


def ends_at(lengths, vocab=5):
    """A table (one row per entry, independent of prev) under which entry r emits token 2
    or 3 (even odds) until step lengths[r] - 1, then EOS; every other token is ruled out
    (logit -1e9, so no search keeps it as a finished hypothesis)."""
    table = np.full((len(lengths), max(lengths), vocab, vocab), -1e9, np.float32)
    for r, n in enumerate(lengths):
        table[r, :n - 1, :, 2:4] = 0.0
        table[r, n - 1:, :, EOS_ID] = 0.0
    return table


@pytest.mark.parametrize("k", [None, 1, 2])
def test_finished_entries_leave_the_batch(k):
    lengths = [2, 5, 3]
    step = ContextStep(ends_at(lengths))
    context = {"row": tf.range(3)}
    if k is None:
        ids, _ = greedy_search(step, 3, 8, {}, context=context)
        ids = ids.numpy()[:, tf.newaxis]
    else:
        ids, _ = run_beam(step, 3, k, 8, {}, context=context)
        ids = ids.numpy()
    for r, n in enumerate(lengths):
        for seq in ids[r]:
            assert set(seq[:n - 1]) <= {2, 3} and seq[n - 1] == EOS_ID and not seq[n:].any()
    beam = k or 1
    # 3 entries for steps 0-1 (step 0 on each entry's first beam only: its beams start
    # alike), entries 1 and 2 for step 2, entry 1 alone for steps 3-4
    assert step.sizes == [(3, 3), (3 * beam, 3), (2 * beam, 2)] + [(beam, 1)] * 2


@pytest.mark.parametrize("k", [None, 2])
def test_context_search_equals_the_same_search_through_states(k):
    table = random_table(7, rows=3, steps=6, vocab=6)
    by_context, by_states = ContextStep(table), TableStep(table)
    if k is None:
        a = greedy_search(by_context, 3, 6, {}, context={"row": tf.range(3)})
        b = greedy_search(by_states, 3, 6, {"row": tf.range(3)})
    else:
        a = run_beam(by_context, 3, k, 6, {}, context={"row": tf.range(3)})
        b = run_beam(by_states, 3, k, 6, {"row": beam_search.tile_beams(tf.range(3), k)})
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_allclose(a[1].numpy(), b[1].numpy(), rtol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_fairseq_early_stopping_results_do_not_depend_on_the_batch(seed):
    """An entry's search stops when it is done, whatever its neighbours still need."""
    step = TableStep(random_table(seed, rows=3, steps=9, vocab=5))
    ids, scores = beams(step, 3, 2, 9, early_stopping=True)
    for row in range(3):
        one_ids, one_scores = run_beam(step, 1, 2, 9, {"row": tf.fill([2], row)},
                                       early_stopping=True)
        np.testing.assert_array_equal(ids[row], one_ids[0].numpy())
        np.testing.assert_allclose(scores[row], one_scores[0].numpy(), rtol=1e-6)


def test_entries_leave_the_batch_inside_tf_function_too():
    step = ContextStep(ends_at([2, 5, 3]))

    @tf.function
    def search(rows):
        return run_beam(step, 3, 2, 8, {}, context={"row": rows})

    eager_step = ContextStep(ends_at([2, 5, 3]))
    eager = run_beam(eager_step, 3, 2, 8, {}, context={"row": tf.range(3)})
    graph = search(tf.range(3))
    np.testing.assert_array_equal(graph[0].numpy(), eager[0].numpy())
    assert step.sizes == eager_step.sizes == [(3, 3), (6, 3), (4, 2), (2, 1), (2, 1)]
