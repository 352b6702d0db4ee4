"""Greedy and beam search over a step function, as tf.while_loops (no Python per step).

Both take `step_fn(prev_ids, i, states) -> (logits, states)`: prev_ids [n] is the token
emitted at step i - 1 (0, the padding id whose embedding is zero, at step 0), logits
[n, vocab]; `states` is any nested structure of tensors whose leading dimension is n
(for beam search n = batch * beam, and states are reordered with the surviving beams).

Beam scores are log-probabilities divided by the length penalty ((5 + length) / 6) ** alpha
(Wu et al., 2016). The search stops once no live beam can still beat the worst finished
one of every batch entry, or at `decode_length` steps.
"""
import tensorflow as tf

EOS_ID = 1
_NEG_INF = -1.0e7


def _relaxed(loop_vars):
    """Shape invariants with the leading (batch) dimension left free."""
    def relax(t):
        shape = t.shape
        return shape if shape.rank in (None, 0) else tf.TensorShape([None]).concatenate(shape[1:])
    return tf.nest.map_structure(relax, loop_vars)


def length_penalty(length, alpha):
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def greedy_search(step_fn, batch_size, decode_length, states, eos_id=EOS_ID):
    """Returns (ids [batch, decode_length], log_prob [batch]); positions after EOS are 0."""
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
        token = tf.where(finished, tf.zeros_like(token), token)
        step_score = tf.gather(log_probs, token, batch_dims=1)
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
                eos_id=EOS_ID, stop_early=True):
    """Returns (ids [batch, beam, decode_length], scores [batch, beam]), best beam first.

    `states` must already be tiled to [batch * beam, ...] (see tile_beams).
    """
    k = beam_size
    alive_seq = tf.zeros([batch_size, k, decode_length], tf.int32)
    alive_log_probs = tf.tile(tf.constant([[0.0] + [_NEG_INF] * (k - 1)]), [batch_size, 1])
    finished_seq = tf.zeros_like(alive_seq)
    finished_scores = tf.fill([batch_size, k], _NEG_INF)
    finished_flags = tf.zeros([batch_size, k], tf.bool)
    max_penalty = length_penalty(decode_length, alpha)

    def cond(i, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags,
             states):
        if not stop_early:
            return i < decode_length
        best_possible = alive_log_probs[:, 0] / max_penalty
        worst_finished = tf.reduce_min(
            tf.where(finished_flags, finished_scores, tf.fill(tf.shape(finished_scores), 1e9)),
            axis=1)
        worst_finished = tf.where(tf.reduce_any(finished_flags, axis=1), worst_finished, _NEG_INF)
        # Done when every beam slot holds a finished hypothesis that no live one can beat.
        done = tf.logical_and(tf.reduce_all(finished_flags, axis=1),
                              worst_finished >= best_possible)
        return tf.logical_and(i < decode_length, tf.logical_not(tf.reduce_all(done)))

    def body(i, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags,
             states):
        prev = tf.cond(i > 0, lambda: tf.gather(alive_seq, tf.maximum(i - 1, 0), axis=2),
                       lambda: tf.zeros([batch_size, k], tf.int32))
        logits, states = step_fn(tf.reshape(prev, [-1]), i, states)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        vocab = tf.shape(log_probs)[-1]
        log_probs = tf.reshape(log_probs, [batch_size, k, vocab])
        candidates = tf.reshape(alive_log_probs[:, :, tf.newaxis] + log_probs, [batch_size, -1])
        top_log_probs, top_index = tf.math.top_k(candidates, k=2 * k)
        top_beam = top_index // vocab
        top_token = top_index % vocab
        top_seq = tf.gather(alive_seq, top_beam, batch_dims=1)
        top_seq += tf.one_hot(i, decode_length, dtype=tf.int32)[tf.newaxis, tf.newaxis] * \
            top_token[:, :, tf.newaxis]
        top_finished = tf.equal(top_token, eos_id)

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
        finished_seq = tf.gather(pool_seq, best, batch_dims=1)
        finished_flags = tf.gather(pool_flags, best, batch_dims=1)
        return (i + 1, new_alive_seq, new_alive_log_probs, finished_seq, best_scores,
                finished_flags, states)

    loop_vars = [tf.constant(0), alive_seq, alive_log_probs, finished_seq, finished_scores,
                 finished_flags, states]
    (_, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags,
     _) = tf.while_loop(cond, body, loop_vars, shape_invariants=_relaxed(loop_vars))
    # A batch entry with no finished hypothesis returns its live beams.
    any_finished = tf.reduce_any(finished_flags, axis=1)
    seq = tf.where(any_finished[:, tf.newaxis, tf.newaxis], finished_seq, alive_seq)
    scores = tf.where(any_finished[:, tf.newaxis], finished_scores,
                      alive_log_probs / max_penalty)
    return seq, scores
