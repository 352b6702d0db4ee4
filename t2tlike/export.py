"""Exporting a trained model as a TensorFlow SavedModel that answers raw text.

`export_model` writes, with `tf.saved_model.save`, a SavedModel with:

  serving_default   strings [batch] (UTF-8 lines, as t2t-decoder reads them) ->
                    {"outputs": strings [batch] (with return_beams: [batch, beam_size]),
                     "scores": float32 [batch] (or [batch, beam_size])}
  serving_ids       int32 [batch, length] (input ids ending in EOS, padded with 0; for a
                    model without inputs, prompt ids without EOS) ->
                    {"outputs": int32 [batch, beam_size, length], "scores": [batch, beam_size]}
  input_lengths     strings [batch] -> {"lengths": int32 [batch]}: the ids of each line
                    before any cut (t2t-serve refuses lines over max_input_length)

and `assets.extra/t2tlike_export.json` (TensorFlow Serving's folder for extra files): the
signatures, the decode hparams, max_input_length (ids; 0 = no limit), has_inputs, and what
the caller adds (problem, model, checkpoint).

Greedy or beam search runs inside the graph with the decode hparams given at export time
(beam_size, alpha, extra_length, early_stopping, return_beams, max_input_size), and the
text is encoded and decoded in the graph by the problem's encoders (`tf_encode` /
`tf_decode`: SentencePiece through tensorflow-text, integer and byte encoders through
string ops, a token-list vocabulary through tf.lookup tables; `tf_resources` names what
the SavedModel must keep, such as those tables), so the decodes equal t2t-decoder's.
Loading needs TensorFlow, and tensorflow-text for a SentencePiece problem (`import
tensorflow_text` registers its ops):

    import tensorflow as tf, tensorflow_text  # noqa
    translate = tf.saved_model.load(export_dir).signatures["serving_default"]
    translate(tf.constant(["ein Mann fährt Rad ."]))["outputs"]

A classifier ("class_label" targets: the Transformer's encoder-only form, a MultiModel
class head) answers as t2t-decoder does: the class id kept whole (0 and 1 are classes, no
EOS cut), named by the ClassLabelEncoder (`tf_decode`), and its log-probability as score.
For one task of a multi-problem, t2t-exporter passes that task's encoders as t2t-decoder
does (decoding/tasks.py: the task's tag in front of each line, in the graph too) and
whether its outputs are class ids. An encoder without in-graph versions (a user's own)
gets the ids signature only, with a warning. The export is written to a temporary folder
beside `export_dir` and renamed into place, so a server watching the folder never sees
half of one.
"""
import json
import os
import shutil

import tensorflow as tf
from absl import logging

from t2tlike.decoding import decoder
from t2tlike.decoding.ids import EOS_ID, PAD_ID
from t2tlike.errors import UserError
from t2tlike.files import PY_WHITESPACE
from t2tlike.serving import INFO_FILE


def strip(strings):
    """Each line without the whitespace at its ends, as str.strip() (t2t-decoder) removes
    it: any Unicode whitespace, where tf.strings.strip removes ASCII only."""
    return tf.strings.regex_replace(strings, f"^{PY_WHITESPACE}|{PY_WHITESPACE}$", "")


def _cut_at_eos(ids):
    """ids [n, length] -> ragged [n, (length)]: the ids before the first EOS, no padding."""
    before_eos = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, EOS_ID), tf.int32), axis=1), 0)
    return tf.ragged.boolean_mask(ids, before_eos & tf.not_equal(ids, PAD_ID))




def export_model(model, input_encoder, target_encoder, hparams, export_dir, info=None,
                 class_label=None):
    """Writes the SavedModel of `model` (weights restored) to `export_dir` (which must not
    exist yet); `hparams`: the decode hparams; `info`: more JSON-able facts for
    INFO_FILE (problem, checkpoint, ...); `class_label`: whether the outputs are class ids,
    as the Decoder takes it (default: from the model). Returns `export_dir`."""
    if os.path.exists(export_dir):
        raise UserError(f"--export_dir={export_dir} exists already; exports are never "
                        "overwritten. Give a new folder (the default is a new timestamp).")
    has_inputs = bool(getattr(model, "has_inputs", True))
    source = input_encoder if has_inputs else target_encoder
    decode = dict(beam_size=hparams.beam_size, alpha=hparams.alpha,
                  extra_length=hparams.extra_length, early_stopping=hparams.early_stopping)
    feature = "inputs" if has_inputs else "targets"

    def infer(ids):
        out = model.infer({feature: ids}, return_beams=True, **decode)
        return {"outputs": out["outputs"], "scores": out["scores"]}

    # A tf.Module holding the weights (each once) and the signatures, each traced once,
    # inside tf.saved_model.save. (keras.export.ExportArchive traced every signature twice,
    # once outside the save to find its variables, and stored every weight twice.)
    root = tf.Module()
    root.model_variables = list(model.variables)
    ids_fn = tf.function(infer, input_signature=[tf.TensorSpec([None, None], tf.int32)],
                         autograph=False)
    endpoints = {"serving_ids": ids_fn}
    texts = hasattr(source, "tf_encode") and hasattr(target_encoder, "tf_decode")
    class_ids = decoder.outputs_class_ids(model, class_label)
    if texts:
        root.resources = [resource for encoder in {id(source): source,
                                                   id(target_encoder): target_encoder}.values()
                          for resource in getattr(encoder, "tf_resources", lambda: [])()]
        strings = [tf.TensorSpec([None], tf.string)]
        endpoints["serving_default"] = tf.function(
            lambda strings: _text_signature(strings, ids_fn, source, target_encoder, hparams,
                                            has_inputs, class_ids),
            input_signature=strings, autograph=False)
        endpoints["input_lengths"] = tf.function(
            lambda strings: {"lengths": tf.cast(
                source.tf_encode(strip(strings)).row_lengths(), tf.int32)},
            input_signature=strings, autograph=False)
    else:
        logging.warning("The problem's encoders (%s, %s) have no in-graph version: the export "
                        "takes and returns ids only (signature serving_ids).",
                        type(source).__name__, type(target_encoder).__name__)
    for name, fn in endpoints.items():
        setattr(root, name, fn)
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(export_dir)}.incomplete")
    shutil.rmtree(tmp, ignore_errors=True)
    signatures = ["serving_default", "serving_ids", "input_lengths"] if texts else ["serving_ids"]
    facts = dict(info or {}, signatures=signatures, has_inputs=has_inputs,
                 max_input_length=max(int(hparams.max_input_size), 0),
                 decode_hparams=dict(decode, return_beams=bool(hparams.return_beams)))
    try:
        # TensorFlow Serving answers serving_default: the ids signature where no other
        tf.saved_model.save(root, tmp, signatures=dict(
            endpoints, serving_default=endpoints.get("serving_default", ids_fn)))
        os.makedirs(os.path.join(tmp, os.path.dirname(INFO_FILE)))
        with open(os.path.join(tmp, INFO_FILE), "w", encoding="utf-8") as f:
            json.dump(facts, f, indent=1, sort_keys=True)
        os.replace(tmp, export_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logging.info("Exported %s (signatures: %s).", export_dir, ", ".join(signatures))
    return export_dir


def _text_signature(strings, infer, source, target_encoder, hparams, has_inputs, class_ids):
    ids = source.tf_encode(strip(strings))
    limit = hparams.max_input_size
    if limit > 0:   # as the decoder: the first ids of an input, the last of a prompt
        ids = ids[:, :limit] if has_inputs else ids[:, -limit:]
    if has_inputs:
        eos = tf.RaggedTensor.from_tensor(tf.fill([tf.shape(strings)[0], 1], EOS_ID))
        ids = tf.concat([tf.cast(ids, tf.int32), eos], axis=1)
    out = infer(tf.cast(ids, tf.int32).to_tensor(PAD_ID))
    outputs, scores = out["outputs"], out["scores"]
    beams = tf.shape(outputs)[1]
    flat = tf.reshape(outputs, [-1, tf.shape(outputs)[2]])
    flat = tf.RaggedTensor.from_tensor(flat) if class_ids else _cut_at_eos(flat)
    texts = tf.reshape(target_encoder.tf_decode(flat), [-1, beams])
    if hparams.return_beams:
        return {"outputs": texts, "scores": scores}
    return {"outputs": texts[:, 0], "scores": scores[:, 0]}
