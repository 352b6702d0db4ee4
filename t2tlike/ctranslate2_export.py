"""Exporting a trained Transformer for CTranslate2 (https://opennmt.net/CTranslate2), the
optional fast CPU/GPU inference engine (`pip install "t2tlike[ctranslate2]"`).

`export_ctranslate2` maps the weights of an encoder-decoder `transformer` onto
`ctranslate2.specs.TransformerSpec` and writes it with CTranslate2's converter API
(`TransformerConverter`, a `ctranslate2.converters.Converter`): model.bin, config.json and
the vocabularies (`shared_vocabulary.json`, or `source_vocabulary.json` and
`target_vocabulary.json`: JSON lists of the tokens in id order, CTranslate2's format, which
also holds tokens such as a byte vocabulary's newline). It is written to a temporary
folder beside `output_dir` and renamed into place when complete.

How our model maps onto CTranslate2's:

* pre-norm layers (layer norm epsilon 1e-6), a final layer norm on each stack, ReLU
  feed-forward networks with biases, attention without biases;
* embeddings times sqrt(hidden_size), as SymbolModality.bottom; shared or separate input
  and target embeddings; the softmax tied to the target embedding or separate;
* positions: our timing signal counts positions from 0 (`positional.timing_signal`), while
  CTranslate2's built-in sinusoids count from 1, so our table of `max_positions` rows is
  stored as the spec's position encodings; longer inputs or outputs are refused by
  CTranslate2 with an error naming the position;
* relative-position self-attention (Shaw et al., 2018): CTranslate2's
  `relative_position_keys` / `relative_position_values`, the same clipped distance j - i;
* the decoder starts, like ours (targets shifted right with zeros), from a zero embedding
  plus the position-0 signal: the spec's `start_from_zero_embedding`. Our bottom also
  zeroes the padding id 0 wherever it appears, so row 0 of the exported embeddings is
  zero, while the output projection keeps the real row (PAD's logit is unchanged).

Special tokens: CTranslate2 names them by string (config.json). eos_token is our id 1's
token (SentencePiece's "</s>", "<EOS>" for the other encoders); the decoder start token
(and bos_token, unused otherwise) is id 0's, the padding token; `add_source_eos` makes
CTranslate2 end every source with EOS, as t2t-decoder does, so callers pass the tokens of
a line without EOS. unk_token is "<unk>" or "<UNK>" when the source vocabulary has it, else
the padding token (a vocabulary without an unknown token has no tokens to map to it).

What CTranslate2 cannot express (a language model without inputs, a classifier, absolute
timing signals together with relative attention, a non-symbol modality, a model other than
the Transformer) is refused with one UserError naming it.
"""
import collections
import os
import shutil

import numpy as np

from t2tlike.errors import UserError
from t2tlike.layers.modalities import SymbolModality
from t2tlike.layers.positional import timing_signal
from t2tlike.models.transformer import Transformer

MAX_POSITIONS = 1024    # rows of the position table: CTranslate2's default max_input_length
UNKNOWN_TOKENS = ("<unk>", "<UNK>")
INSTALL = 'pip install "t2tlike[ctranslate2]" (or: pip install "ctranslate2>=4.5")'


def export_ctranslate2(model, hparams, input_encoder, target_encoder, output_dir,
                       quantization=None, max_positions=MAX_POSITIONS):
    """Writes the CTranslate2 model of `model` (a built `transformer` with its weights
    restored; `hparams` its hparams) to `output_dir`, which must not exist.
    input_encoder / target_encoder: the problem's encoders (their `decode_list` names each
    id's token). quantization: None (float32 as trained) or one of CTranslate2's weight
    types ("int8", "int8_float16", "float16", ...). Returns `output_dir`."""
    ctranslate2 = _import_ctranslate2()
    accepted = ctranslate2.specs.model_spec.ACCEPTED_MODEL_TYPES
    if quantization not in (None, *accepted):
        raise UserError(f"unknown CTranslate2 quantization {quantization!r}; expected one of "
                        f"{', '.join(accepted)} (or none: float32 weights).")
    if os.path.exists(output_dir):
        raise UserError(f"{output_dir} exists already; exports are never overwritten. Give "
                        "a new folder.")
    if int(max_positions) < 1:
        raise UserError(f"max_positions must be >= 1 (rows of the position table), got "
                        f"{max_positions}.")
    _check_supported(model, hparams)
    vocab = model.problem_hparams.vocab_size
    source = _tokens(input_encoder, vocab["inputs"], "inputs")
    target = _tokens(target_encoder, vocab["targets"], "targets")
    if source[1] != target[1]:
        raise UserError(f"the inputs' EOS token {source[1]!r} differs from the targets' "
                        f"{target[1]!r}; CTranslate2 names EOS by one string for both "
                        "vocabularies.")
    converter = converter_class()(model, source, target, int(max_positions))
    parent = os.path.dirname(os.path.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(os.path.abspath(output_dir))}.incomplete")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        converter.convert(tmp, quantization=quantization, force=True)
        os.replace(tmp, output_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return output_dir


def _import_ctranslate2():
    try:
        import ctranslate2
    except ImportError:
        raise UserError(f"the CTranslate2 export needs the ctranslate2 package: {INSTALL}.")
    return ctranslate2


def _check_supported(model, hparams):
    """Raises one UserError naming everything of `model` CTranslate2 cannot express."""
    if not isinstance(model, Transformer):
        raise UserError(f"the CTranslate2 export takes the `transformer` model; got "
                        f"{type(model).__name__}.")
    problems = []
    if not model.has_inputs:
        problems.append("a language model without inputs (only encoder-decoder models)")
    elif model.encoder_only:
        problems.append("a classifier (class_label targets)")
    for name, modality in (("inputs", model.input_modality), ("targets", model.target_modality)):
        if modality is not None and not isinstance(modality, SymbolModality):
            problems.append(f"the {name} modality {type(modality).__name__} (only symbol)")
    relative = hparams.self_attention_type == "dot_product_relative"
    if relative and model.use_timing:
        problems.append("relative self-attention together with pos=timing (CTranslate2 adds "
                        "no absolute positions to relative attention; use pos=none)")
    if problems:
        raise UserError("CTranslate2 cannot express this model: " + "; ".join(problems) + ".")
    if not (model.built and model.encoder.built and model.decoder.built):
        raise UserError("the model has no weights yet: build it and restore a checkpoint "
                        "before exporting.")


def _tokens(encoder, size, feature):
    """[size] strings: the token of each id of `feature`, unique (CTranslate2 looks tokens
    up by string)."""
    if encoder is None:
        raise UserError(f"the CTranslate2 export needs the {feature} encoder (its tokens "
                        "become the vocabulary); got none.")
    try:
        tokens = [str(t) for t in encoder.decode_list(list(range(size)))]
    except (IndexError, KeyError, ValueError) as e:
        raise UserError(f"the {feature} encoder ({type(encoder).__name__}) cannot name all "
                        f"{size} ids of the model's vocabulary: {e}")
    if len(set(tokens)) < len(tokens):
        repeated = sorted(t for t, n in collections.Counter(tokens).items() if n > 1)
        raise UserError(f"the {feature} vocabulary repeats tokens {repeated[:5]}; CTranslate2 "
                        "maps tokens to ids by string, so each must be unique.")
    return tokens


def converter_class():
    """TransformerConverter: a ctranslate2.converters.Converter whose `_load` builds the
    TransformerSpec (defined here, so that importing this module needs no ctranslate2)."""
    from ctranslate2.converters import Converter

    class TransformerConverter(Converter):
        """CTranslate2's converter API over a t2tlike Transformer: `convert(output_dir,
        quantization=...)` validates, quantizes and saves the spec `_load` returns."""

        def __init__(self, model, source_tokens, target_tokens, max_positions):
            self.model, self.max_positions = model, max_positions
            self.source_tokens, self.target_tokens = source_tokens, target_tokens

        def _load(self):
            return transformer_spec(self.model, self.source_tokens, self.target_tokens,
                                    self.max_positions)

    return TransformerConverter


def _array(variable):
    return np.array(variable.numpy() if hasattr(variable, "numpy") else variable, np.float32)


def _embedding(modality):
    """The modality's embedding [vocab, hidden] as the bottom sees it: row 0 (padding) zero."""
    table = _array(modality.embedding)
    table[0] = 0.0
    return table


def transformer_spec(model, source_tokens, target_tokens, max_positions=MAX_POSITIONS):
    """The ctranslate2.specs.TransformerSpec of `model` (see the module docstring)."""
    from ctranslate2.specs import transformer_spec as ct2

    relative = bool(model.encoder.stack[0].self_attention.max_relative_position)
    spec = ct2.TransformerSpec.from_config(
        (model.encoder.num_layers, model.decoder.num_layers), model.hparams.num_heads,
        with_relative_position=relative, pre_norm=True)
    positions = None
    if model.use_timing:
        positions = timing_signal(max_positions, model.hidden_size)[0].numpy()  # [max, hidden]
    encoder, decoder = spec.encoder, spec.decoder
    encoder.embeddings[0].weight = _embedding(model.input_modality)
    decoder.embeddings.weight = _embedding(model.target_modality)
    target = model.target_modality
    decoder.projection.weight = _array(target.embedding if target.tie_softmax
                                       else target.softmax_weights)
    decoder.start_from_zero_embedding = True
    for stack_spec, stack in ((encoder, model.encoder), (decoder, model.decoder)):
        stack_spec.scale_embeddings = True
        if positions is not None:
            stack_spec.position_encodings.encodings = positions
        elif hasattr(stack_spec, "position_encodings"):   # pos=none, no relative attention
            stack_spec.position_encodings.encodings = np.zeros(
                (max_positions, model.hidden_size), np.float32)
        _layer_norm(stack_spec.layer_norm, stack.norm)
    for layer_spec, layer in zip(encoder.layer, model.encoder.stack):
        _attention(layer_spec.self_attention, layer.self_attention, layer.norm1, True)
        _ffn(layer_spec.ffn, layer.ffn, layer.norm2)
    for layer_spec, layer in zip(decoder.layer, model.decoder.stack):
        _attention(layer_spec.self_attention, layer.self_attention, layer.norm1, True)
        _attention(layer_spec.attention, layer.encdec_attention, layer.norm2, False)
        _ffn(layer_spec.ffn, layer.ffn, layer.norm3)

    pad, eos = target_tokens[0], target_tokens[1]
    unknown = next((t for t in UNKNOWN_TOKENS if t in source_tokens), source_tokens[0])
    config = spec.config
    config.unk_token, config.bos_token, config.eos_token = unknown, pad, eos
    config.decoder_start_token = pad
    config.add_source_bos, config.add_source_eos = False, True
    config.layer_norm_epsilon = float(model.encoder.norm.epsilon)
    spec.register_source_vocabulary(source_tokens)
    spec.register_target_vocabulary(target_tokens)
    return spec


def _layer_norm(spec, norm):
    spec.gamma, spec.beta = _array(norm.gamma), _array(norm.beta)


def _linear(spec, *denses):
    """Keras kernels [in, out] -> CTranslate2's weight [out, in]; several are stacked
    (CTranslate2's fused q|k|v or k|v projections)."""
    spec.weight = np.concatenate([_array(d.kernel).T for d in denses], axis=0)
    if len(denses) == 1 and denses[0].use_bias:
        spec.bias = _array(denses[0].bias)


def _attention(spec, attention, norm, self_attention):
    _layer_norm(spec.layer_norm, norm)
    if self_attention:
        _linear(spec.linear[0], attention.q_dense, attention.k_dense, attention.v_dense)
    else:
        _linear(spec.linear[0], attention.q_dense)
        _linear(spec.linear[1], attention.k_dense, attention.v_dense)
    _linear(spec.linear[-1], attention.o_dense)
    if attention.max_relative_position:
        spec.relative_position_keys = _array(attention.relative_keys)
        spec.relative_position_values = _array(attention.relative_values)


def _ffn(spec, ffn, norm):
    _layer_norm(spec.layer_norm, norm)
    _linear(spec.linear_0, ffn.inner)
    _linear(spec.linear_1, ffn.outer)
