"""Greedy and beam search over a step function, as tf.while_loops (no Python per step).

Both take `step_fn(prev_ids, i, states) -> (logits, states)`: prev_ids [n] is the token
emitted at step i - 1 (0, the padding id whose embedding is zero, at step 0), logits
[n, vocab]; `states` is any nested structure of tensors whose leading dimension is n
(for beam search n = live entries * beam, and states are reordered with the surviving
beams); their other dimensions but the last may change from step to step (a growing
cache). With `context` (a nested structure of tensors [batch, ...], one row per batch
entry, that the steps read but do not change: an encoder's memory), the searches call
`step_fn(prev_ids, i, states, context)`.

Finished entries leave the batch (fairseq does the same): once an entry is done its
results are written out, and later steps run on the live entries only, so n shrinks
during the search. Everything a step function needs per row must therefore come through
`states` or `context`; a tensor captured from outside would keep the old batch size.

Beam scores are log-probabilities divided by the length penalty ((5 + length) / 6) ** alpha
(Wu et al., 2016). By default (T2T's rule) a batch entry is done once it has `beam`
finished hypotheses and no live beam can still beat the worst of them, even at the
longest allowed length (where the length penalty flatters it most); with
`early_stopping=True` (fairseq's rule, Hugging Face's `early_stopping=True`) it is done
as soon as it has `beam` finished hypotheses, which ends batches far sooner when
`decode_length` is generous; as in fairseq, a candidate that ends (EOS) then finishes only
if it ranks among the `beam` best candidates of its step. The search stops when every
entry is done, or at `decode_length` steps.

Prompts (language models): both searches take an optional `prefix` [batch, prefix_len]
(right-padded with 0) and `prefix_length` [batch]. At a step i < prefix_length[b], row b
takes prefix[b, i] instead of its argmax / its beams' candidates, with log-probability 0
(T2T's forced logits), so scores count only the continuation while the length penalty
counts the whole sequence. `max_length` [batch] ends each row on its own (at most that
many ids), so a row decodes exactly as it would alone with decode_length = max_length[b];
padding never becomes part of a continuation, whatever the other rows' lengths.
"""
import numbers

import tensorflow as tf

from t2tlike.decoding.ids import EOS_ID
from t2tlike.decoding.top_k import top_k_log_probs

_NEG_INF = -1.0e7
_FORCED_OUT = -1.0e9     # log-prob of a token other than the prefix's at a forced step


def _relaxed(loop_vars):
    """Shape invariants with every dimension but the last left free: the leading (batch)
    one, and lengths that grow from step to step (a decoder's key/value cache)."""
    def relax(t):
        shape = t.shape
        if shape.rank in (None, 0):
            return shape
        return tf.TensorShape([None] * max(shape.rank - 1, 1) +
                              ([shape[-1]] if shape.rank > 1 else []))
    return tf.nest.map_structure(relax, loop_vars)


def _while(cond, body, loop_vars):
    """tf.while_loop over loop variables whose leading and growing dimensions change from
    step to step. The initial values enter with those dimensions unknown to the graph:
    with a statically known batch size, Grappler's constant folding specialises the loop
    body for the initial shapes (a tf.shape of a shrinking tensor became the constant of
    its first step, and the search read the wrong rows)."""
    invariants = _relaxed(loop_vars)
    if not tf.executing_eagerly():
        loop_vars = tf.nest.map_structure(
            lambda t, shape: tf.raw_ops.PlaceholderWithDefault(input=t, shape=shape),
            loop_vars, invariants)
    return tf.while_loop(cond, body, loop_vars, shape_invariants=invariants)


def check_rank(tensor, rank, what):
    """Raises ValueError unless `tensor`'s static rank is `rank` (an unknown rank passes)."""
    got = tf.convert_to_tensor(tensor).shape.rank
    if got is not None and got != rank:
        raise ValueError(f"{what}: expected a tensor of rank {rank}, received shape "
                         f"{tensor.shape} (rank {got}); reshape it to {what}'s shape.")


def length_penalty(length, alpha):
    """The length penalty ((5 + length) / 6) ** alpha; length [...] -> [...] float32."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def prefix_lengths(prefix, eos_id=EOS_ID):
    """prefix [batch, len] ids -> [batch] int32: the length of each row's leading run of
    real tokens (it ends at the first padding 0 or EOS)."""
    prefix = tf.convert_to_tensor(prefix)
    check_rank(prefix, 2, "prefix [batch, prefix_len]")
    real = tf.cast(tf.logical_and(tf.not_equal(prefix, 0), tf.not_equal(prefix, eos_id)),
                   tf.int32)
    return tf.reduce_sum(tf.math.cumprod(real, axis=1), axis=1)


class _Forcing:
    """The per-row prompt and length limit of a search (see the module docstring)."""

    def __init__(self, batch_size, decode_length, prefix, prefix_length, max_length):
        for tensor, rank, what in ((prefix, 2, "prefix [batch, prefix_len]"),
                                   (prefix_length, 1, "prefix_length [batch]"),
                                   (max_length, 1, "max_length [batch]")):
            if tensor is not None:
                check_rank(tensor, rank, what)
        if prefix is None:
            self.prefix = None
        else:
            prefix = tf.cast(prefix, tf.int32)
            # One extra column of padding, so that step i always has a column to read.
            self.prefix = tf.pad(prefix, [[0, 0], [0, 1]])
            self.length = tf.cast(prefix_length, tf.int32) if prefix_length is not None \
                else prefix_lengths(prefix)
        self.limit = tf.fill([batch_size], decode_length) if max_length is None else \
            tf.minimum(tf.cast(max_length, tf.int32), decode_length)

    def at(self, i, rows):
        """(forced [live] bool, token [live] int32) at step i for the batch rows `rows`;
        None without a prefix."""
        if self.prefix is None:
            return None
        column = tf.gather(self.prefix, tf.minimum(i, tf.shape(self.prefix)[1] - 1), axis=1)
        return i < tf.gather(self.length, rows), tf.gather(column, rows)


def _caller(step_fn, context):
    """(call(prev, i, states, context), the context as a loop variable): step functions
    given no context take three arguments."""
    if context is None:
        return (lambda prev, i, states, _: step_fn(prev, i, states)), {}
    return step_fn, context


def _gather_rows(structure, index):
    return tf.nest.map_structure(lambda t: tf.gather(t, index), structure)


def _keep_rows(structure, keep, live):
    """The rows `keep` (indices into the `live` rows) of a structure that needs no other
    gather (the context; greedy's states): gathered only when a row has left."""
    if not tf.nest.flatten(structure):
        return structure
    return tf.cond(tf.size(keep) < live, lambda: _gather_rows(structure, keep),
                   lambda: structure)


def _scatter_rows(out, rows, values):
    """out [batch, ...] with out[rows[j]] = values[j]."""
    return tf.tensor_scatter_nd_update(out, rows[:, tf.newaxis], values)


def greedy_search(step_fn, batch_size, decode_length, states, eos_id=EOS_ID, prefix=None,
                  prefix_length=None, max_length=None, context=None):
    """Returns (ids [batch, decode_length], log_prob [batch]); positions after EOS are 0.

    A row leaves the batch when it ends (EOS or its length limit): later steps call
    `step_fn` on the live rows only. With `prefix` / `prefix_length` / `max_length`, see
    the module docstring: the ids start with each row's prefix, and its log-prob counts
    only what follows.
    """
    forcing = _Forcing(batch_size, decode_length, prefix, prefix_length, max_length)
    call, context = _caller(step_fn, context)
    rows = tf.range(batch_size)
    ids = tf.zeros([batch_size, decode_length], tf.int32)
    scores = tf.zeros([batch_size], tf.float32)
    out_ids, out_scores = ids, scores

    def compact(i, rows, ids, scores, states, context, out_ids, out_scores, ended):
        """Writes the rows that `ended` to the outputs and drops them from the rest."""
        leaving = tf.cast(tf.where(ended)[:, 0], tf.int32)
        out_ids = _scatter_rows(out_ids, tf.gather(rows, leaving), tf.gather(ids, leaving))
        out_scores = _scatter_rows(out_scores, tf.gather(rows, leaving),
                                   tf.gather(scores, leaving))
        keep = tf.cast(tf.where(tf.logical_not(ended))[:, 0], tf.int32)
        live = tf.size(rows)
        return (i, tf.gather(rows, keep), tf.gather(ids, keep), tf.gather(scores, keep),
                _keep_rows(states, keep, live), _keep_rows(context, keep, live), out_ids,
                out_scores)

    def cond(i, rows, *_):
        return tf.logical_and(i < decode_length, tf.size(rows) > 0)

    def body(i, rows, ids, scores, states, context, out_ids, out_scores):
        live = tf.size(rows)
        prev = tf.cond(i > 0, lambda: tf.gather(ids, tf.maximum(i - 1, 0), axis=1),
                       lambda: tf.zeros([live], tf.int32))
        logits, states = call(prev, i, states, context)
        logits = tf.cast(logits, tf.float32)
        token = tf.argmax(logits, axis=-1, output_type=tf.int32)
        step_score = tf.gather(logits, token, batch_dims=1) - \
            tf.reduce_logsumexp(logits, axis=-1)                 # its log-probability
        forced = forcing.at(i, rows)
        if forced is not None:
            token = tf.where(forced[0], forced[1], token)
            step_score = tf.where(forced[0], tf.zeros_like(step_score), step_score)
        scores += step_score
        ids += tf.one_hot(i, decode_length, dtype=tf.int32)[tf.newaxis] * token[:, tf.newaxis]
        ended = tf.logical_or(tf.equal(token, eos_id), i + 1 >= tf.gather(forcing.limit, rows))
        return compact(i + 1, rows, ids, scores, states, context, out_ids, out_scores, ended)

    # Rows allowed no id at all (max_length 0) end before the first step.
    loop_vars = compact(tf.constant(0), rows, ids, scores, states, context, out_ids,
                        out_scores, forcing.limit <= 0)
    (_, rows, ids, scores, _, _, out_ids, out_scores) = _while(cond, body, list(loop_vars))
    # Rows still live at decode_length.
    return _scatter_rows(out_ids, rows, ids), _scatter_rows(out_scores, rows, scores)


def tile_beams(t, beam_size):
    """[batch, ...] -> [batch * beam, ...], each entry repeated beam_size times."""
    return tf.gather(t, _beam_rows(tf.shape(t)[0], beam_size))


def _beam_rows(batch, beam_size):
    """The row of each of batch * beam_size beams: 0, 0, .., 1, 1, ... (as a gather
    index, a few ops where tf.repeat builds some twenty)."""
    return tf.range(batch * beam_size) // beam_size


def beam_search(step_fn, batch_size, beam_size, decode_length, states, alpha=0.6,
                eos_id=EOS_ID, stop_early=True, prefix=None, prefix_length=None,
                max_length=None, early_stopping=False, context=None):
    """Returns (ids [batch, beam, decode_length], scores [batch, beam]), best beam first.

    `states` must already be tiled to [batch * beam, ...] (see tile_beams): the beams of
    an entry start alike, so step 0 calls `step_fn` on each entry's first beam only (n =
    batch there) and copies what it returns to the entry's beams. `context`, if given, is
    per batch entry ([batch, ...], not tiled). A batch entry leaves the search
    once it is done (see the module docstring) or at its length limit: later steps call
    `step_fn` on the live entries' beams only, so a batch costs what its sentences need,
    not its slowest sentence times the batch size. With `prefix` [batch, prefix_len] /
    `prefix_length` [batch] / `max_length` [batch], see the module docstring: every beam
    of a row starts with its prefix.
    """
    if not isinstance(beam_size, numbers.Integral) or beam_size < 1:
        raise ValueError(f"beam_search: expected beam_size, the number of hypotheses kept, "
                         f"as a Python int >= 1; received {beam_size!r}.")
    k = int(beam_size)
    forcing = _Forcing(batch_size, decode_length, prefix, prefix_length, max_length)
    call, context = _caller(step_fn, context)
    max_penalty = length_penalty(forcing.limit, alpha)                 # [batch]
    rows = tf.range(batch_size)
    alive_seq = tf.zeros([batch_size, k, decode_length], tf.int32)
    alive_log_probs = tf.tile(tf.constant([[0.0] + [_NEG_INF] * (k - 1)]), [batch_size, 1])
    finished_seq = tf.zeros_like(alive_seq)
    finished_scores = tf.fill([batch_size, k], _NEG_INF)
    finished_flags = tf.zeros([batch_size, k], tf.bool)
    out_seq, out_scores = alive_seq, finished_scores

    def is_done(i, rows, alive_log_probs, finished_scores, finished_flags):
        """[live] bool: the rows whose search is over before step i."""
        past_limit = i >= tf.gather(forcing.limit, rows)
        if not stop_early:
            return past_limit
        full = tf.reduce_all(finished_flags, axis=1)
        if early_stopping:           # every beam slot holds a finished hypothesis
            return tf.logical_or(full, past_limit)
        # ... that no live one can beat, even at the longest allowed length.
        best_possible = alive_log_probs[:, 0] / tf.gather(max_penalty, rows)
        worst_finished = tf.reduce_min(tf.where(finished_flags, finished_scores, 1e9), axis=1)
        return tf.logical_or(tf.logical_and(full, worst_finished >= best_possible), past_limit)

    def results(rows, alive_seq, alive_log_probs, finished_seq, finished_scores,
                finished_flags):
        """(seq, scores) of rows: their finished hypotheses, or, where none finished, their
        live beams."""
        any_finished = tf.reduce_any(finished_flags, axis=1)
        seq = tf.where(any_finished[:, tf.newaxis, tf.newaxis], finished_seq, alive_seq)
        scores = tf.where(any_finished[:, tf.newaxis], finished_scores,
                          alive_log_probs / tf.gather(max_penalty, rows)[:, tf.newaxis])
        return seq, scores

    def compact(i, rows, beams, states, context, out_seq, out_scores, origin=None):
        """Writes the rows that are done before step i to the outputs and drops them; the
        states follow their beams' `origin` [live, k] (the identity when None)."""
        done = is_done(i, rows, beams[1], beams[3], beams[4])
        leaving = tf.cast(tf.where(done)[:, 0], tf.int32)
        seq, scores = results(tf.gather(rows, leaving), *_gather_rows(beams, leaving))
        out_seq = _scatter_rows(out_seq, tf.gather(rows, leaving), seq)
        out_scores = _scatter_rows(out_scores, tf.gather(rows, leaving), scores)
        keep = tf.cast(tf.where(tf.logical_not(done))[:, 0], tf.int32)
        live = tf.size(rows)
        if origin is None:
            origin = tf.tile(tf.range(k)[tf.newaxis], [live, 1])
        flat_origin = tf.reshape(tf.gather(origin, keep) + keep[:, tf.newaxis] * k, [-1])
        return (i, tf.gather(rows, keep), _gather_rows(beams, keep),
                _gather_rows(states, flat_origin), _keep_rows(context, keep, live),
                out_seq, out_scores)

    def cond(i, rows, *_):
        return tf.logical_and(i < decode_length, tf.size(rows) > 0)

    def run_step(prev, i, states, context, live):
        """step_fn on the live entries' beams. The beams of an entry start alike (see
        tile_beams), so step 0 runs each entry's first beam only and copies its logits and
        states to the entry's k beams."""
        if k == 1:
            return call(prev, i, states, context)
        first = tf.range(live) * k
        prev, states = tf.cond(i > 0, lambda: (prev, states),
                               lambda: (tf.gather(prev, first), _gather_rows(states, first)))
        logits, states = call(prev, i, states, context)
        return tf.cond(i > 0, lambda: (logits, states),
                       lambda: _gather_rows((logits, states), _beam_rows(live, k)))

    def body(i, rows, beams, states, context, out_seq, out_scores):
        alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags = beams
        live = tf.size(rows)
        prev = tf.cond(i > 0, lambda: tf.gather(alive_seq, tf.maximum(i - 1, 0), axis=2),
                       lambda: tf.zeros([live, k], tf.int32))
        logits, states = run_step(tf.reshape(prev, [-1]), i, states, context, live)
        # The 2k best of all beams' continuations are among each beam's 2k best tokens:
        # rank those (log-probabilities need only each row's log-sum-exp, not a full
        # log-softmax over the vocabulary).
        logits = tf.cast(logits, tf.float32)
        vocab = logits.shape[-1]
        per_beam = min(2 * k, vocab) if vocab is not None else \
            tf.minimum(2 * k, tf.shape(logits)[-1])
        log_probs, tokens = top_k_log_probs(logits, per_beam)                # [n, per_beam]
        log_probs = tf.reshape(log_probs, [live, k, per_beam])
        tokens = tf.reshape(tokens, [live, k, per_beam])
        forced = forcing.at(i, rows)
        if forced is not None:
            # Forced rows: the prefix token costs nothing, every other token is ruled out.
            first = tf.range(per_beam) == 0
            rule = forced[0][:, tf.newaxis, tf.newaxis]
            log_probs = tf.where(rule, tf.where(first, 0.0, _FORCED_OUT), log_probs)
            tokens = tf.where(tf.logical_and(rule, first),
                              forced[1][:, tf.newaxis, tf.newaxis], tokens)
        candidates = tf.reshape(alive_log_probs[:, :, tf.newaxis] + log_probs, [live, -1])
        top_log_probs, top_index = tf.math.top_k(candidates, k=2 * k)
        top_beam = top_index // per_beam
        top_token = tf.gather(tf.reshape(tokens, [live, -1]), top_index, batch_dims=1)
        top_seq = tf.gather(alive_seq, top_beam, batch_dims=1)
        top_seq += tf.one_hot(i, decode_length, dtype=tf.int32)[tf.newaxis, tf.newaxis] * \
            top_token[:, :, tf.newaxis]
        top_ended = tf.equal(top_token, eos_id)
        if forced is not None:       # a ruled-out EOS does not finish a forced row
            top_ended = tf.logical_and(top_ended, tf.logical_not(forced[0])[:, tf.newaxis])
        top_finished = top_ended
        if early_stopping:
            # fairseq: an ended candidate is kept only if it ranks among the k best (those
            # below are dropped), so the k finished slots fill with strong hypotheses.
            top_finished = tf.logical_and(top_ended, tf.range(2 * k) < k)

        # The k best candidates that did not end go on living.
        alive_score = top_log_probs + tf.cast(top_ended, tf.float32) * _NEG_INF
        _, keep = tf.math.top_k(alive_score, k=k)
        new_alive_seq = tf.gather(top_seq, keep, batch_dims=1)
        new_alive_log_probs = tf.gather(alive_score, keep, batch_dims=1)
        origin = tf.gather(top_beam, keep, batch_dims=1)                # [live, k]

        # The candidates that ended join the finished pool; keep its k best.
        new_scores = top_log_probs / length_penalty(i + 1, alpha)
        new_scores += (1.0 - tf.cast(top_finished, tf.float32)) * _NEG_INF
        pool_seq = tf.concat([finished_seq, top_seq], axis=1)
        pool_scores = tf.concat([finished_scores, new_scores], axis=1)
        pool_flags = tf.concat([finished_flags, top_finished], axis=1)
        best_scores, best = tf.math.top_k(pool_scores, k=k)
        beams = (new_alive_seq, new_alive_log_probs, tf.gather(pool_seq, best, batch_dims=1),
                 best_scores, tf.gather(pool_flags, best, batch_dims=1))
        return compact(i + 1, rows, beams, states, context, out_seq, out_scores, origin)

    beams = (alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags)
    loop_vars = compact(tf.constant(0), rows, beams, states, context, out_seq, out_scores)
    (_, rows, beams, _, _, out_seq, out_scores) = _while(cond, body, list(loop_vars))
    # Rows still searching at decode_length.
    seq, scores = results(rows, *beams)
    return _scatter_rows(out_seq, rows, seq), _scatter_rows(out_scores, rows, scores)
