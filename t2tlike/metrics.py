"""Eval metrics as (numerator, denominator) sums, so batches and replicas add up exactly.

accuracy                non-pad target positions predicted exactly
accuracy_per_sequence   examples whose every non-pad target position is right
neg_log_perplexity      mean log-probability of the targets (no label smoothing)
bleu                    sacreBLEU (13a, cased) of greedy decodes of the first
                        `eval_bleu_samples` dev examples against their targets: a real
                        corpus BLEU, computed by the trainer outside the batched metrics

`corpus_bleu` is the one sacreBLEU computation: the trainer's dev BLEU, t2t-decoder's
report and t2t-bleu all print or log what it returns.
"""
import dataclasses

import tensorflow as tf

from t2tlike.errors import UserError

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


@dataclasses.dataclass(frozen=True)
class Bleu:
    """A corpus BLEU: `score` (0..100) and `line`, sacreBLEU's own report of it with its
    signature ("BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:... = 27.31
    58.1/33.2/... (BP = ...)"), by which scores are compared across papers."""
    score: float
    line: str

    def report(self):
        """The two lines the tools print: "BLEU = 27.31" and `line`."""
        return f"BLEU = {self.score:.2f}\n{self.line}"


def corpus_bleu(hypotheses, references, lowercase=False):
    """sacreBLEU (13a tokenization; cased unless `lowercase`) of detokenized hypotheses
    [n] against one reference each [n] -> Bleu. Raises UserError for n = 0 or when the
    counts differ: there is no corpus to score."""
    import sacrebleu
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise UserError(f"BLEU needs one reference per hypothesis: got {len(hypotheses)} "
                        f"hypotheses and {len(references)} references; give files (or "
                        "lists) of equal length.")
    if not references:
        raise UserError("BLEU of an empty corpus: expected at least one hypothesis and its "
                        "reference, received none; check that the files or the split are "
                        "not empty.")
    metric = sacrebleu.BLEU(tokenize="13a", lowercase=lowercase)
    score = metric.corpus_score(hypotheses, [references])
    return Bleu(score.score, score.format(signature=str(metric.get_signature())))
