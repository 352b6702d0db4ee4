"""Decoding with a trained model: from a file, from stdin, or from a dataset split.

Inputs are encoded with the problem's encoder and end in EOS; an input longer than the
decode hparam `max_input_size` keeps its first ids, with a warning (t2t-decoder's default
is the problem's training max_length). A file is streamed: read `buffer_size` lines at a
time, each buffer decoded in batches of sentences sorted by length (less padding),
`parallel_batches` batches at once, and its outputs written in the input's order as soon
as it is done, so memory holds one buffer.
A file output goes to `<file>.incomplete`, renamed when every line is done; a run killed
part-way continues after the outputs already there (`resume`). A classifier
("class_label" targets) outputs one class id per input, which the targets encoder turns
into its name.

A problem without inputs (a language model, e.g. a Text2SelfProblem) is decoded as T2T
does: each line is a prompt (the start of a target, possibly empty), encoded with the
targets encoder and without EOS, which the model continues until EOS or the prompt
length + extra_length ids. The output line is the prompt followed by its continuation
(T2T includes the prompt too). To decode a dataset split without inputs, each target's
first half is the prompt (see `prompt_from_target`).

A dataset split's examples are decoded with `Decoder.decode_examples` and scored with
`score_report` (exact match and sacreBLEU). `trained_hparams` and `checkpoint_prefix`
find what a run stored; decoding one task of a multi-problem is in decoding/tasks.py.
"""
import concurrent.futures
import itertools
import os
import sys
import time

import tensorflow as tf
from absl import logging

from t2tlike import checkpoints, metrics, run_config, tracing
from t2tlike.decoding.ids import EOS_ID, cut_at_eos, input_ids
from t2tlike.errors import UserError
from t2tlike.files import atomic_write, read_lines
from t2tlike.hparams import HParams, create_hparams
from t2tlike.layers import modalities
from t2tlike.run_config import cpu_cores


def decode_hparams(overrides=""):
    """T2T's decode hparams (beam_size, alpha, return_beams, extra_length, batch_size, ...),
    and early_stopping: end a sentence's beam search as soon as it has beam_size finished
    hypotheses (fairseq's rule), instead of T2T's bound (see decoding/beam_search.py);
    buffer_size: lines of a file read and decoded at a time (fairseq's --buffer-size);
    max_input_size: inputs are cut to this many ids (<= 0: not cut; t2t-decoder turns the
    default -1 into the problem's max_length); parallel_batches: batches decoded at once
    (see `Decoder.decode_encoded`; 0: one per CPU core, at most 8)."""
    hp = HParams(beam_size=4, alpha=0.6, return_beams=False, extra_length=100, batch_size=32,
                 num_samples=-1, max_input_size=-1, write_beam_scores=False,
                 delimiter="\n", early_stopping=False, buffer_size=10000, parallel_batches=0)
    return hp.parse(overrides) if overrides else hp


def trained_hparams(output_dir, hparams_set=None, overrides=""):
    """The hparams a run was trained with (output_dir/hparams.json, as t2t-trainer stores
    them) with `overrides`; without that file, hparams set `hparams_set` with them. Keys
    the toolkit's sets gained since the run was trained come at the values of
    `hparams_set` (or of the set in the run's run.json)."""
    stored = os.path.join(output_dir or "", run_config.HPARAMS_FILE)
    if output_dir and os.path.exists(stored):
        with open(stored, encoding="utf-8") as f:
            hp = HParams.from_json(f.read())
        set_name = hparams_set or run_config.run_info(output_dir).get("hparams_set")
        try:
            hp = run_config.with_added_keys(hp, create_hparams(set_name)) if set_name else hp
        except UserError:   # the set is not registered (any more): the stored keys only
            pass
        return hp.parse(overrides)
    if not hparams_set:
        where = f"{stored} does not exist" if output_dir else "no output_dir was given"
        raise UserError(f"missing required flag(s): --hparams_set ({where}, so the model's "
                        "hparams set must be named).")
    return create_hparams(hparams_set, overrides)


def checkpoint_prefix(path, run_dir=False):
    """The checkpoint to restore: `path` itself (a checkpoint prefix), or the latest
    checkpoint of `path` when it is a directory (a run's output_dir). With run_dir, `path`
    must be such a directory (t2t-decoder's --output_dir)."""
    if run_dir or os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path) if os.path.isdir(path) else None
        if prefix is None:
            raise UserError(f"no checkpoint in {path}. Train first with t2t-trainer "
                            f"--output_dir={path}, or pass --checkpoint_path.")
        return prefix
    if not tf.io.gfile.glob(path + "*"):
        raise UserError(f"checkpoint {path} does not exist; pass a run's output_dir or a "
                        "checkpoint prefix (e.g. <output_dir>/model-1000).")
    return path


def restore(model, checkpoint_path):
    """Loads the model weights from `checkpoint_path` (a prefix or a directory, see
    checkpoint_prefix), all of them (checkpoints.restore_model: a checkpoint of another
    model or other hparams is refused); returns the prefix restored."""
    return checkpoints.restore_model(model, checkpoint_prefix(checkpoint_path))


def load(model, checkpoint_path):
    """Creates the model's variables (one call on a tiny batch) and restores them from
    `checkpoint_path` (see restore); returns the checkpoint's path."""
    model({"inputs": tf.constant([[2, 1]]), "targets": tf.constant([[2, 1]])})
    return restore(model, checkpoint_path)


def prompt_from_target(target_ids):
    """A target's ids (EOS and padding already cut) -> the prompt a language model is
    given when a dataset split is decoded: the first half (rounded down)."""
    return list(target_ids[:len(target_ids) // 2])


def parallel_batches(hparams):
    """How many batches decode hparams `hparams` decode at once: parallel_batches, or for
    0 one per CPU core (`cpu_cores()`), at most 8."""
    wanted = int(hparams.parallel_batches)
    if wanted < 0:
        raise UserError(f"parallel_batches={wanted}: expected 0 (one per CPU core) or a number "
                        "of batches >= 1; set it with --decode_hparams=parallel_batches=N.")
    return wanted or min(cpu_cores(), 8)


def batch_threads(hparams):
    """The CPU threads (intra-op, inter-op) that decode many batches fastest: one thread per
    op and `parallel_batches(hparams)` ops at once (each batch's loop on its own core), when
    that many batches cover every core; else None (TensorFlow's default threads)."""
    batches = parallel_batches(hparams)
    return (1, batches) if batches >= cpu_cores() > 1 else None


def outputs_class_ids(model, class_label=None):
    """Whether `model`'s outputs are class ids, kept whole (0 and 1 are classes there, not
    PAD and EOS): `class_label` when given (a multi-task model says it per task), else
    whether its targets modality is "class_label"."""
    if class_label is not None:
        return bool(class_label)
    return isinstance(getattr(model, "target_modality", None), modalities.ClassLabelModality)


class Decoder:
    """Decodes id sequences and text with `model` (weights already restored).

    With a model without inputs (`model.has_inputs` False) the ids and lines are prompts
    (see the module docstring) and `input_encoder` is not used (it may be None).
    `class_label` (default: from the model's target modality) says that outputs are class
    ids, kept whole (0 and 1 are classes, not padding and EOS); a multi-task model says it
    per task.
    """

    def __init__(self, model, input_encoder, target_encoder, hparams, class_label=None):
        self.model, self.hparams = model, hparams
        self.input_encoder, self.target_encoder = input_encoder, target_encoder
        self.has_inputs = bool(getattr(model, "has_inputs", True))
        if self.has_inputs and input_encoder is None:
            raise ValueError("Decoder: the model reads inputs, so input_encoder must be the "
                             "problem's inputs encoder, not None.")
        self._class_label = outputs_class_ids(model, class_label)
        feature = "inputs" if self.has_inputs else "targets"   # targets: the prompts
        infer = lambda ids: model.infer(   # noqa: E731
            {feature: ids}, beam_size=hparams.beam_size, alpha=hparams.alpha,
            extra_length=hparams.extra_length, return_beams=True,
            early_stopping=hparams.early_stopping)
        spec = [tf.TensorSpec([None, None], tf.int32)]
        # The searches are explicit tf.while_loops: traced without AutoGraph (tracing.py).
        self._infer = tracing.Function(infer, input_signature=spec)
        parallel_batches(hparams)   # a bad value fails before any decoding
        self.cut_inputs = 0   # inputs longer than max_input_size, cut to it

    def trace(self):
        """Builds the search's graph now (a decode's first batch would), once; returns
        its concrete function."""
        return self._infer.get_concrete_function()

    def decode_ids(self, batch_ids):
        """A list of input id lists (prompt id lists without inputs) -> a list (same order)
        of lists of (ids, score), best first. Without inputs the ids start with the prompt.
        Rows are right-padded with 0; the model keeps padding out of every output."""
        width = max(len(x) for x in batch_ids)
        padded = [list(x) + [0] * (width - len(x)) for x in batch_ids]
        result = self._infer(tf.constant(padded, tf.int32, shape=[len(padded), width]))
        outputs, scores = result["outputs"].numpy(), result["scores"].numpy()
        return [[(self.target_ids(beam), float(s)) for beam, s in zip(outputs[i], scores[i])]
                for i in range(len(batch_ids))]

    def target_ids(self, ids):
        """Output (or reference) ids -> what the target encoder decodes: cut at EOS, or,
        for a classifier, the class id kept whole (0 and 1 are classes there)."""
        return [int(i) for i in ids] if self._class_label else cut_at_eos(ids)

    def encode(self, line):
        """A line -> input ids ending in EOS; or, without inputs, prompt ids (no EOS).
        max_input_size keeps the first ids of an input, the last ids of a prompt (the
        part the continuation follows)."""
        limit = self.hparams.max_input_size
        ids = (self.input_encoder if self.has_inputs else self.target_encoder).encode(
            line.strip())
        if 0 < limit < len(ids):
            if not self.cut_inputs:
                logging.warning("An input of %d ids is longer than max_input_size=%d: its %s "
                                "%d are decoded (and so for every longer one; raise it with "
                                "--decode_hparams=max_input_size=N, 0 = no limit).", len(ids),
                                limit, "first" if self.has_inputs else "last", limit)
            self.cut_inputs += 1
            ids = ids[:limit] if self.has_inputs else ids[-limit:]
        return ids + [EOS_ID] if self.has_inputs else ids

    def decode_lines(self, lines):
        """Texts -> decoded texts (the best beam), in order; batched by sorted length."""
        return self.decode_encoded([self.encode(line) for line in lines])

    def decode_encoded(self, encoded, log=True):
        """Id lists as `encode` makes them (inputs ending in EOS, or prompts) -> decoded
        texts, in order. They are batched by sorted length, and `parallel_batches` batches
        are decoded at once, longest first: a beam step is many small ops, most of which
        use one core, so a second batch in flight keeps the other cores busy. Each
        sentence's result is the same as decoded alone in its batch."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        bs = max(int(self.hparams.batch_size), 1)
        batches = [order[b:b + bs] for b in range(0, len(order), bs)][::-1]
        results = [None] * len(encoded)
        start, done = time.time(), 0
        for chunk, decoded in self._decode_batches(encoded, batches):
            for i, beams in zip(chunk, decoded):
                results[i] = beams
            done += len(chunk)
            if log:
                logging.info("decoded %d/%d sentences (%.1f sentences/s)", done, len(order),
                             done / max(time.time() - start, 1e-9))
        return [self._format(beams) for beams in results]

    def _decode_batches(self, encoded, batches):
        """Yields (batch, decode_ids of its sentences) for batches (lists of indices into
        `encoded`) as each is done, `parallel_batches` at a time."""
        workers = min(parallel_batches(self.hparams), len(batches))
        if workers <= 1:
            for chunk in batches:
                yield chunk, self.decode_ids([encoded[i] for i in chunk])
            return
        self.trace()   # here: Keras's state is per thread
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            futures = {pool.submit(self.decode_ids, [encoded[i] for i in chunk]): chunk
                       for chunk in batches}
            try:
                for future in concurrent.futures.as_completed(futures):
                    yield futures[future], future.result()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    def _format(self, beams):
        if not self.hparams.return_beams:
            return self.target_encoder.decode(beams[0][0])
        parts = []
        for ids, score in beams:
            text = self.target_encoder.decode(ids)
            parts.append(f"{text}\t{score:.4f}" if self.hparams.write_beam_scores else text)
        return "\t".join(parts)

    def decode_from_file(self, input_path, output_path=None, resume=False, keep=True):
        """Decodes the lines of `input_path` (the first num_samples with num_samples > 0),
        `buffer_size` at a time, writing each output followed by the delimiter, in order, as
        soon as its buffer is done: to `output_path` (through `output_path`.incomplete,
        renamed when every line is done) or to stdout. With `resume`, the lines whose outputs
        a killed run left in `output_path`.incomplete are skipped. Returns the outputs of the
        lines decoded now (`keep`; for an output file, all of them are in the file), else
        their number."""
        if resume and not output_path:
            raise UserError("--decode_resume continues an output file: give --decode_to_file.")
        partial = output_path + PARTIAL_SUFFIX if output_path else None
        done = 0
        if partial and resume and os.path.exists(partial):
            done = _complete_records(partial, self.hparams.delimiter)
            logging.info("Resuming %s: %d lines were decoded already.", output_path, done)
        elif resume and os.path.exists(output_path):
            logging.info("%s is complete already; nothing to decode.", output_path)
            return [] if keep else 0
        elif partial and os.path.exists(partial):
            logging.info("Starting %s afresh (--decode_resume would continue the %s left by a "
                         "run that stopped).", output_path, partial)
        lines = read_lines(input_path, "--decode_from_file")
        if self.hparams.num_samples > 0:
            lines = itertools.islice(lines, self.hparams.num_samples)
        lines = itertools.islice(lines, done, None)
        kept, count, start = [], 0, time.time()
        buffer_size = max(int(self.hparams.buffer_size), 1)
        out = open(partial, "a" if done else "w", encoding="utf-8") if partial else sys.stdout
        try:
            while buffer := list(itertools.islice(lines, buffer_size)):
                outputs = self.decode_encoded([self.encode(line) for line in buffer], log=False)
                out.write("".join(o + self.hparams.delimiter for o in outputs))
                out.flush()
                count += len(outputs)
                if keep:
                    kept.extend(outputs)
                logging.info("decoded %d lines (%.1f lines/s)%s", done + count,
                             count / max(time.time() - start, 1e-9),
                             f", written to {partial}" if partial else "")
        finally:
            if partial:
                out.close()
        if partial:
            os.replace(partial, output_path)
            logging.info("wrote %d decodes to %s", done + count, output_path)
        if self.cut_inputs:
            logging.warning("%d inputs were cut to max_input_size=%d ids.", self.cut_inputs,
                            self.hparams.max_input_size)
        return kept if keep else count

    def encode_examples(self, examples):
        """Examples of a dataset split ({"inputs": ids [in_len], "targets": ids [tgt_len]},
        numpy or lists, EOS-terminated, maybe padded), the first num_samples of them with
        num_samples > 0 -> (what decode_encoded takes, the targets as text). Inputs are cut
        at EOS and end in one EOS; without inputs each target's first half is the prompt
        (prompt_from_target)."""
        encoded, references = [], []
        for example in examples:
            if 0 < self.hparams.num_samples <= len(encoded):
                break
            target = self.target_ids(example["targets"])
            encoded.append(input_ids(example["inputs"]) if self.has_inputs else
                           prompt_from_target(target))
            references.append(self.target_encoder.decode(target))
        return encoded, references

    def decode_examples(self, examples, output_path=None):
        """Decodes examples of a dataset split (see encode_examples) -> (hypotheses, the
        best beam's text of each; references, the targets as text). With `output_path`,
        writes the decodes there, one per line, atomically."""
        encoded, references = self.encode_examples(examples)
        outputs = self.decode_encoded(encoded)
        if output_path:
            atomic_write(output_path, "".join(o + "\n" for o in outputs))
        # with return_beams each output holds every beam, tab-separated: the best is first
        return [o.split("\t")[0] for o in outputs], references

    def decode_interactive(self, stream=None, out=None):
        """Decodes each line of `stream` (stdin) to `out` (stdout) as it is typed; an empty
        line is skipped, or, without inputs, continued from nothing."""
        stream, out = stream or sys.stdin, out or sys.stdout
        out.write("Type an input and press Enter (Ctrl-D to quit).\n> " if self.has_inputs else
                  "Type a prompt and press Enter; an empty line starts from nothing "
                  "(Ctrl-D to quit).\n> ")
        out.flush()
        for line in stream:
            if line.strip() or not self.has_inputs:
                out.write(self.decode_lines([line])[0] + "\n")
            out.write("> ")
            out.flush()
        out.write("\n")


PARTIAL_SUFFIX = ".incomplete"


def _complete_records(path, delimiter):
    """How many outputs, each ending in `delimiter`, file `path` holds; a last one cut
    short (the run was killed while writing it) is removed from the file."""
    mark, count, end, offset, tail = delimiter.encode("utf-8"), 0, 0, 0, b""
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            data = tail + block
            found = data.find(mark)
            while found >= 0:
                count += 1
                end = offset - len(tail) + found + len(mark)
                found = data.find(mark, found + len(mark))
            tail = data[-(len(mark) - 1):] if len(mark) > 1 else b""
            offset += len(block)
    if end < os.path.getsize(path):
        with open(path, "r+b") as f:
            f.truncate(end)
    return count


def exact_match(hypotheses, references):
    """Fraction of hypotheses [n] equal to their references [n] after stripping whitespace
    (0.0 for n = 0)."""
    if len(hypotheses) != len(references):
        raise UserError(f"{len(hypotheses)} decodes but {len(references)} reference lines; the "
                        "reference file must have one line per input line.")
    if not references:
        return 0.0
    return sum(h.strip() == r.strip() for h, r in zip(hypotheses, references)) / len(references)


def score_report(hypotheses, references):
    """The lines t2t-decoder prints for decodes [n] scored against references [n]: exact
    match (fraction and count) and sacreBLEU with its signature."""
    accuracy = exact_match(hypotheses, references)
    bleu = metrics.corpus_bleu(hypotheses, references)
    return (f"exact match: {accuracy:.4f} ({round(accuracy * len(references))}/"
            f"{len(references)})\n{bleu.report()}")
