"""A model's inference: greedy or beam search over its step function, or one class label.

A model describes one decoding step with

    decoding_step_fn(features, num_samples, decode_length) -> (step_fn, states, context)

(T2TModel's generic version re-runs the model on the prefix decoded so far; the
Transformer's keeps a cache of keys and values): `step_fn(prev_ids, i, states, context)
-> (logits [n, vocab], states)`, `states` with leading dimension num_samples (batch, or
batch * beam for beam search), `context` one row per batch entry; see
decoding/beam_search.py. `decode` picks the decode length, forces a language model's
prompts, runs the search and shapes its results; `classify` does the same for a
classifier's logits. Both return what every model's `infer` returns:

    {"outputs": ids [batch, length], "scores": [batch]}, or, with return_beams,
    {"outputs": ids [batch, beam, length], "scores": [batch, beam]}, best beam first
    (greedy search and a classifier give one beam).

Output ids after EOS are 0. Scores are log-probabilities, divided by the length penalty
for beam search (see beam_search.length_penalty).

With inputs ("inputs" [batch, in_len] ids, or [batch, in_len, depth] real-valued
features) a row may emit in_len + extra_length ids. Without inputs (a decoder-only
language model) "targets" [batch, prompt_len] holds prompts, right-padded with 0; a
row's prompt ends at its first 0 or EOS and may be empty. Each row is forced to its
prompt, then continued until EOS or prompt length + extra_length ids, whatever the other
rows' lengths; its outputs start with the prompt (as T2T's) and its score counts only
the continuation.
"""
import tensorflow as tf

from t2tlike.decoding import beam_search


def _source(features, has_inputs):
    """The features' [batch, ...] tensor that sets the batch size, rank-checked."""
    if has_inputs:
        inputs = features["inputs"]
        rank = tf.convert_to_tensor(inputs).shape.rank
        if rank is not None and rank < 2:
            raise ValueError(f"features['inputs']: expected ids [batch, length] (or features "
                             f"[batch, length, depth]), received shape {inputs.shape}; add "
                             "the batch dimension (e.g. inputs[tf.newaxis]).")
        return inputs
    targets = features["targets"]
    beam_search.check_rank(targets, 2, "features['targets'] (prompts [batch, prompt_len])")
    return targets


def prompts(targets):
    """targets [batch, prompt_len] ids, right-padded with 0 -> (prompt [batch, prompt_len]
    int32, lengths [batch] int32); a row's prompt ends at its first 0 or EOS."""
    prompt = tf.cast(targets, tf.int32)
    return prompt, beam_search.prefix_lengths(prompt)


def decode_length(features, extra_length, has_inputs=True):
    """int32 scalar: how many ids decoding may emit: in_len + extra_length with inputs,
    else the longest prompt (features["targets"]) + extra_length."""
    source = _source(features, has_inputs)
    if has_inputs:
        return tf.shape(source)[1] + extra_length
    lengths = prompts(source)[1]
    return tf.reduce_max(tf.concat([lengths, [0]], axis=0)) + extra_length   # batch 0 too


def _results(ids, scores, return_beams):
    """ids [batch, beam, length], scores [batch, beam] -> infer's dict: every beam with
    return_beams, else the best one (ids [batch, length], scores [batch])."""
    if return_beams:
        return {"outputs": ids, "scores": scores}
    return {"outputs": ids[:, 0], "scores": scores[:, 0]}


def decode(decoding_step_fn, features, beam_size=1, alpha=0.6, extra_length=50,
           return_beams=False, early_stopping=False, has_inputs=True):
    """Greedy search (beam_size <= 1) or beam search with `decoding_step_fn` (see the
    module docstring) -> {"outputs", "scores"} as the module docstring says.

    features: "inputs" [batch, in_len] with has_inputs, else "targets" [batch,
    prompt_len] prompts; anything else in features is passed on to decoding_step_fn.
    alpha is the length penalty's exponent; early_stopping ends an entry's beam search
    as soon as it has beam_size finished hypotheses (see decoding/beam_search.py).
    """
    batch = tf.shape(_source(features, has_inputs))[0]
    length = decode_length(features, extra_length, has_inputs)
    forcing = {}
    if not has_inputs:
        prefix, prefix_length = prompts(features["targets"])
        forcing = dict(prefix=prefix, prefix_length=prefix_length,
                       max_length=prefix_length + extra_length)
    if beam_size <= 1:
        step_fn, states, context = decoding_step_fn(features, batch, length)
        ids, scores = beam_search.greedy_search(step_fn, batch, length, states,
                                                context=context, **forcing)
        return _results(ids[:, tf.newaxis], scores[:, tf.newaxis], return_beams)   # one beam
    step_fn, states, context = decoding_step_fn(features, batch * beam_size, length)
    ids, scores = beam_search.beam_search(step_fn, batch, beam_size, length, states,
                                          alpha=alpha, early_stopping=early_stopping,
                                          context=context, **forcing)
    return _results(ids, scores, return_beams)


def classify(logits, return_beams=False):
    """A classifier's logits [batch, classes] -> {"outputs": the argmax class [batch, 1]
    (no EOS), "scores": its log-probability [batch]}; with return_beams, one beam:
    outputs [batch, 1, 1], scores [batch, 1]. (Beam search over one label is pointless.)"""
    beam_search.check_rank(logits, 2, "logits [batch, classes]")
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))                 # [batch, classes]
    ids = tf.argmax(log_probs, axis=-1, output_type=tf.int32)[:, tf.newaxis, tf.newaxis]
    scores = tf.reduce_max(log_probs, axis=-1)[:, tf.newaxis]                  # [batch, 1]
    return _results(ids, scores, return_beams)
