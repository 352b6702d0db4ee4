"""Greedy and beam search over a step function, as tf.while_loops (no Python per step).

Both take `step_fn(prev_ids, i, states) -> (logits, states)`: prev_ids [n] is the token
emitted at step i - 1 (0, the padding id whose embedding is zero, at step 0), logits
[n, vocab]; `states` is any nested structure of tensors whose leading dimension is n
(for beam search n = batch * beam, and states are reordered with the surviving beams);
their other dimensions but the last may change from step to step (a growing cache).

Beam scores are log-probabilities divided by the length penalty ((5 + length) / 6) ** alpha
(Wu et al., 2016). By default (T2T's rule) a batch entry is done once it has `beam`
finished hypotheses and no live beam can still beat the worst of them, even at the
longest allowed length (where the length penalty flatters it most); with
`early_stopping=True` (fairseq's rule, Hugging Face's `early_stopping=True`) it is done
as soon as it has `beam` finished hypotheses, which ends batches far sooner when
`decode_length` is generous. The search stops when every entry is done, or at
`decode_length` steps.

Prompts (language models): both searches take an optional `prefix` [batch, prefix_len]
(right-padded with 0) and `prefix_length` [batch]. At a step i < prefix_length[b], row b
takes prefix[b, i] instead of its argmax / its beams' candidates, with log-probability 0
(T2T's forced logits), so scores count only the continuation while the length penalty
counts the whole sequence. `max_length` [batch] ends each row on its own (at most that
many ids), so a row decodes exactly as it would alone with decode_length = max_length[b];
padding never becomes part of a continuation, whatever the other rows' lengths.
"""
import tensorflow as tf

EOS_ID = 1
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


def length_penalty(length, alpha):
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def prefix_lengths(prefix, eos_id=EOS_ID):
    """prefix [batch, len] ids -> [batch] int32: the length of each row's leading run of
    real tokens (it ends at the first padding 0 or EOS)."""
    prefix = tf.convert_to_tensor(prefix)
    real = tf.cast(tf.logical_and(tf.not_equal(prefix, 0), tf.not_equal(prefix, eos_id)),
                   tf.int32)
    return tf.reduce_sum(tf.math.cumprod(real, axis=1), axis=1)


class _Forcing:
    """The per-row prompt and length limit of a search (see the module docstring)."""

    def __init__(self, batch_size, decode_length, prefix, prefix_length, max_length):
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

    def at(self, i):
        """(forced [batch] bool, token [batch] int32) at step i; None without a prefix."""
        if self.prefix is None:
            return None
        token = tf.gather(self.prefix, tf.minimum(i, tf.shape(self.prefix)[1] - 1), axis=1)
        return i < self.length, token


def greedy_search(step_fn, batch_size, decode_length, states, eos_id=EOS_ID, prefix=None,
                  prefix_length=None, max_length=None):
    """Returns (ids [batch, decode_length], log_prob [batch]); positions after EOS are 0.

    With `prefix` / `prefix_length` / `max_length`, see the module docstring: the ids
    start with each row's prefix, and its log-prob counts only what follows.
    """
    forcing = _Forcing(batch_size, decode_length, prefix, prefix_length, max_length)
    ids = tf.zeros([batch_size, decode_length], tf.int32)
    finished = tf.zeros([batch_size], tf.bool)
    scores = tf.zeros([batch_size], tf.float32)

    def cond(i, ids, finished, scores, states):
        return tf.logical_and(i < decode_length, tf.logical_not(tf.reduce_all(finished)))

    def body(i, ids, finished, scores, states):
        prev = tf.cond(i > 0, lambda: tf.gather(ids, tf.maximum(i - 1, 0), axis=1),
                       lambda: tf.zeros([batch_size], tf.int32))
        logits, states = step_fn(prev, i, states)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        token = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        step_score = tf.gather(log_probs, token, batch_dims=1)
        forced = forcing.at(i)
        if forced is not None:
            token = tf.where(forced[0], forced[1], token)
            step_score = tf.where(forced[0], tf.zeros_like(step_score), step_score)
        finished = tf.logical_or(finished, i >= forcing.limit)     # past this row's length
        token = tf.where(finished, tf.zeros_like(token), token)
        scores += tf.where(finished, tf.zeros_like(step_score), step_score)
        ids += tf.one_hot(i, decode_length, dtype=tf.int32)[tf.newaxis] * token[:, tf.newaxis]
        finished = tf.logical_or(finished, tf.equal(token, eos_id))
        return i + 1, ids, finished, scores, states

    loop_vars = [tf.constant(0), ids, finished, scores, states]
    _, ids, _, scores, _ = tf.while_loop(cond, body, loop_vars,
                                         shape_invariants=_relaxed(loop_vars))
    return ids, scores


def tile_beams(t, beam_size):
    """[batch, ...] -> [batch * beam, ...], each entry repeated beam_size times."""
    return tf.repeat(t, beam_size, axis=0)


def beam_search(step_fn, batch_size, beam_size, decode_length, states, alpha=0.6,
                eos_id=EOS_ID, stop_early=True, prefix=None, prefix_length=None,
                max_length=None, early_stopping=False):
    """Returns (ids [batch, beam, decode_length], scores [batch, beam]), best beam first.

    `states` must already be tiled to [batch * beam, ...] (see tile_beams). With `prefix`
    [batch, prefix_len] / `prefix_length` [batch] / `max_length` [batch], see the module
    docstring: every beam of a row starts with its prefix, and a row past its max_length
    is left as it was (its states are not used again).
    """
    k = beam_size
    forcing = _Forcing(batch_size, decode_length, prefix, prefix_length, max_length)
    alive_seq = tf.zeros([batch_size, k, decode_length], tf.int32)
    alive_log_probs = tf.tile(tf.constant([[0.0] + [_NEG_INF] * (k - 1)]), [batch_size, 1])
    finished_seq = tf.zeros_like(alive_seq)
    finished_scores = tf.fill([batch_size, k], _NEG_INF)
    finished_flags = tf.zeros([batch_size, k], tf.bool)
    max_penalty = length_penalty(forcing.limit, alpha)                 # [batch]

    def cond(i, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags,
             states):
        if not stop_early:
            return i < decode_length
        best_possible = alive_log_probs[:, 0] / max_penalty
        worst_finished = tf.reduce_min(
            tf.where(finished_flags, finished_scores, tf.fill(tf.shape(finished_scores), 1e9)),
            axis=1)
        worst_finished = tf.where(tf.reduce_any(finished_flags, axis=1), worst_finished, _NEG_INF)
        # Done when every beam slot holds a finished hypothesis that no live one can beat
        # (early_stopping: as soon as every beam slot holds a finished hypothesis).
        full = tf.reduce_all(finished_flags, axis=1)
        done = full if early_stopping else \
            tf.logical_and(full, worst_finished >= best_possible)
        done = tf.logical_or(done, i >= forcing.limit)
        return tf.logical_and(i < decode_length, tf.logical_not(tf.reduce_all(done)))

    def body(i, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags,
             states):
        prev = tf.cond(i > 0, lambda: tf.gather(alive_seq, tf.maximum(i - 1, 0), axis=2),
                       lambda: tf.zeros([batch_size, k], tf.int32))
        logits, states = step_fn(tf.reshape(prev, [-1]), i, states)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        vocab = tf.shape(log_probs)[-1]
        log_probs = tf.reshape(log_probs, [batch_size, k, vocab])
        forced = forcing.at(i)
        if forced is not None:
            # Forced rows: the prefix token costs nothing, every other token is ruled out.
            only = tf.where(tf.one_hot(forced[1], vocab) > 0, 0.0, _FORCED_OUT)  # [batch, vocab]
            log_probs = tf.where(forced[0][:, tf.newaxis, tf.newaxis],
                                 only[:, tf.newaxis, :], log_probs)
        candidates = tf.reshape(alive_log_probs[:, :, tf.newaxis] + log_probs, [batch_size, -1])
        top_log_probs, top_index = tf.math.top_k(candidates, k=2 * k)
        top_beam = top_index // vocab
        top_token = top_index % vocab
        top_seq = tf.gather(alive_seq, top_beam, batch_dims=1)
        top_seq += tf.one_hot(i, decode_length, dtype=tf.int32)[tf.newaxis, tf.newaxis] * \
            top_token[:, :, tf.newaxis]
        top_finished = tf.equal(top_token, eos_id)
        if forced is not None:       # a ruled-out EOS does not finish a forced row
            top_finished = tf.logical_and(top_finished, tf.logical_not(forced[0])[:, tf.newaxis])

        # The k best candidates that did not end go on living.
        alive_score = top_log_probs + tf.cast(top_finished, tf.float32) * _NEG_INF
        _, keep = tf.math.top_k(alive_score, k=k)
        new_alive_seq = tf.gather(top_seq, keep, batch_dims=1)
        new_alive_log_probs = tf.gather(alive_score, keep, batch_dims=1)
        origin = tf.gather(top_beam, keep, batch_dims=1)                # [batch, k]
        flat_origin = tf.reshape(origin + tf.range(batch_size)[:, tf.newaxis] * k, [-1])
        states = tf.nest.map_structure(lambda s: tf.gather(s, flat_origin), states)

        # The candidates that ended join the finished pool; keep its k best.
        new_scores = top_log_probs / length_penalty(i + 1, alpha)
        new_scores += (1.0 - tf.cast(top_finished, tf.float32)) * _NEG_INF
        pool_seq = tf.concat([finished_seq, top_seq], axis=1)
        pool_scores = tf.concat([finished_scores, new_scores], axis=1)
        pool_flags = tf.concat([finished_flags, top_finished], axis=1)
        best_scores, best = tf.math.top_k(pool_scores, k=k)
        new_finished_seq = tf.gather(pool_seq, best, batch_dims=1)
        new_finished_flags = tf.gather(pool_flags, best, batch_dims=1)

        # Rows past their own max_length keep what they had (as if their search had ended).
        active = i < forcing.limit                                       # [batch]
        keep2, keep3 = active[:, tf.newaxis], active[:, tf.newaxis, tf.newaxis]
        return (i + 1, tf.where(keep3, new_alive_seq, alive_seq),
                tf.where(keep2, new_alive_log_probs, alive_log_probs),
                tf.where(keep3, new_finished_seq, finished_seq),
                tf.where(keep2, best_scores, finished_scores),
                tf.where(keep2, new_finished_flags, finished_flags), states)

    loop_vars = [tf.constant(0), alive_seq, alive_log_probs, finished_seq, finished_scores,
                 finished_flags, states]
    (_, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags,
     _) = tf.while_loop(cond, body, loop_vars, shape_invariants=_relaxed(loop_vars))
    # A batch entry with no finished hypothesis returns its live beams.
    any_finished = tf.reduce_any(finished_flags, axis=1)
    seq = tf.where(any_finished[:, tf.newaxis, tf.newaxis], finished_seq, alive_seq)
    scores = tf.where(any_finished[:, tf.newaxis], finished_scores,
                      alive_log_probs / max_penalty[:, tf.newaxis])
    return seq, scores
