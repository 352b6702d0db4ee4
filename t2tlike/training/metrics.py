"""Eval metrics as (numerator, denominator) sums, so batches and replicas add up exactly.

accuracy                non-pad target positions predicted exactly
accuracy_per_sequence   examples whose every non-pad target position is right
neg_log_perplexity      mean log-probability of the targets (no label smoothing)
bleu                    sacreBLEU (13a, cased) of greedy decodes of the first
                        `eval_bleu_samples` dev examples against their targets: a real
                        corpus BLEU, computed by the trainer outside the batched metrics
"""
import tensorflow as tf

ACC = "accuracy"
ACC_PER_SEQ = "accuracy_per_sequence"
NEG_LOG_PERPLEXITY = "neg_log_perplexity"
BLEU = "bleu"
METRICS = (ACC, ACC_PER_SEQ, NEG_LOG_PERPLEXITY)
DECODE_METRICS = (BLEU,)


def metric_sums(logits, targets, weights, names=METRICS):
    """logits [batch, length, vocab], targets/weights [batch, length] -> {name: (num, den)}."""
    logits = tf.cast(logits, tf.float32)
    weights = tf.cast(weights, tf.float32)
    out = {}
    predictions = tf.argmax(logits, axis=-1, output_type=targets.dtype)
    correct = tf.cast(tf.equal(predictions, targets), tf.float32)
    if ACC in names:
        out[ACC] = (tf.reduce_sum(correct * weights), tf.reduce_sum(weights))
    if ACC_PER_SEQ in names:
        wrong = tf.reduce_sum((1.0 - correct) * weights, axis=-1)
        out[ACC_PER_SEQ] = (tf.reduce_sum(tf.cast(tf.equal(wrong, 0.0), tf.float32)),
                            tf.cast(tf.shape(targets)[0], tf.float32))
    if NEG_LOG_PERPLEXITY in names:
        log_probs = tf.gather(tf.nn.log_softmax(logits), targets, batch_dims=len(targets.shape))
        out[NEG_LOG_PERPLEXITY] = (tf.reduce_sum(log_probs * weights), tf.reduce_sum(weights))
    return out


def finalize(sums):
    """{name: (num, den)} -> {name: num / den}."""
    return {k: float(n) / max(float(d), 1e-9) for k, (n, d) in sums.items()}


def corpus_bleu(hypotheses, references):
    """sacreBLEU (13a tokenization, cased) of detokenized hypotheses against one reference
    each; returns the score object (`.score`, and its signature via format)."""
    import sacrebleu
    return sacrebleu.BLEU(tokenize="13a").corpus_score(list(hypotheses), [list(references)])
