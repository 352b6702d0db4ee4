r"""t2t-decoder: decode with a trained model (greedy or beam search).

  t2t-decoder --problem=P --model=transformer --hparams_set=transformer_tiny \
              --data_dir=$D --output_dir=$O --decode_hparams="beam_size=4,alpha=0.6" \
              --decode_from_file=in.txt --decode_to_file=out.txt [--decode_reference=ref.txt]

Without --decode_from_file or --decode_interactive it decodes --decode_split of the
problem's data (default: dev) and reports exact-match accuracy against its targets.

For a problem without inputs (a language model, e.g. a Text2SelfProblem or tfds:lm1b),
each line of --decode_from_file / --decode_interactive is a prompt (possibly empty) that
the model continues (greedy or beam search, until EOS or the prompt length +
extra_length tokens); each output line is the prompt followed by its continuation, as in
T2T. Decoding a split prompts with the first half of each target and scores the output
(prompt + continuation) against the whole target.

For a multi-problem (`--problem=a+b`, or a registered MultiProblem), `--task=NAME` (or its
index) picks the task: each input line gets that task's tag in front (lines may also
start with a tag themselves, `<task:NAME> text`), and --decode_split reads that task's
split.
"""
import os
import time

from absl import flags, logging

from t2tlike_cli import cli

FLAGS = flags.FLAGS

flags.DEFINE_string("decode_hparams", "", "Decode hparams: 'beam_size=4,alpha=0.6,"
                    "extra_length=100,batch_size=32,return_beams=false,num_samples=-1'.")
flags.DEFINE_string("decode_from_file", None, "Decode the lines of this file.")
flags.DEFINE_string("decode_to_file", None, "Write the decodes here (default: stdout).")
flags.DEFINE_string("decode_reference", None, "Reference file: report exact match and BLEU.")
flags.DEFINE_bool("decode_interactive", False, "Decode lines typed on stdin.")
flags.DEFINE_string("task", None, "Multi-problems: the task to decode (its name or index); "
                    "its tag is put in front of every input line.")
flags.DEFINE_string("decode_split", "dev", "Split decoded when no file is given: train, dev "
                    "or test. Without inputs (a language model) the first half of each "
                    "target is the prompt.")


def _hparams():
    from t2tlike.hparams import HParams, create_hparams
    from t2tlike.training import run_config
    stored = os.path.join(FLAGS.output_dir or "", run_config.HPARAMS_FILE)
    if FLAGS.output_dir and os.path.exists(stored):   # the hparams the model was trained with
        with open(stored, encoding="utf-8") as f:
            return HParams.from_json(f.read()).parse(FLAGS.hparams)
    cli.require("hparams_set")
    return create_hparams(FLAGS.hparams_set, FLAGS.hparams)


def _task(problem):
    """The index of --task in a multi-problem, or None without --task."""
    from t2tlike.errors import UserError
    if FLAGS.task is None:
        return None
    if not hasattr(problem, "task_index"):
        raise UserError(f"--task={FLAGS.task}: problem {problem.name} is not a multi-problem "
                        "(join problems with '+', e.g. --problem=a+b); drop --task.")
    task = int(FLAGS.task) if FLAGS.task.isdigit() else FLAGS.task
    return problem.task_index(task)


class _TaggedInputs:
    """An inputs encoder that puts a task's tag id in front of every encoded line (unless
    the line already starts with one)."""

    def __init__(self, base, tag_id):
        self.base, self.tag = base, tag_id

    def encode(self, text):
        ids = self.base.encode(text)
        tagged = ids and ids[0] >= self.base.tag_id(0)   # tag ids follow the text ids
        return ids if tagged else [self.tag] + ids

    def __getattr__(self, name):
        return getattr(self.base, name)


def _read_lines(path, flag):
    from t2tlike.errors import UserError
    if not os.path.isfile(path):
        raise UserError(f"--{flag}: {path} does not exist or is not a file.")
    with open(path, encoding="utf-8", errors="strict") as f:
        return f.read().splitlines()


def _report(hypotheses, references):
    import sacrebleu

    from t2tlike.decoding.decoder import exact_match
    acc = exact_match(hypotheses, references)
    metric = sacrebleu.BLEU()
    score = metric.corpus_score(hypotheses, [references])
    print(f"exact match: {acc:.4f} ({round(acc * len(references))}/{len(references)})")
    print(f"BLEU = {score.score:.2f}")
    print(score.format(signature=str(metric.get_signature())))


def main(argv):
    import tensorflow as tf

    from t2tlike import registry
    from t2tlike.decoding import decoder as decoder_lib
    from t2tlike.errors import UserError
    from t2tlike.training.trainer import build_model
    cli.require("problem", "model", "data_dir")
    if not (FLAGS.output_dir or FLAGS.checkpoint_path):
        raise UserError("missing required flag: --output_dir (or --checkpoint_path).")
    problem = registry.problem(FLAGS.problem)
    registry.model(FLAGS.model)
    dhp = decoder_lib.decode_hparams(FLAGS.decode_hparams)
    if FLAGS.decode_from_file and not os.path.isfile(FLAGS.decode_from_file):
        raise UserError(f"--decode_from_file: {FLAGS.decode_from_file} does not exist or is "
                        "not a file.")
    checkpoint = FLAGS.checkpoint_path or FLAGS.output_dir
    if not FLAGS.checkpoint_path and (not os.path.isdir(checkpoint) or
                                      tf.train.latest_checkpoint(checkpoint) is None):
        raise UserError(f"no checkpoint in {checkpoint}. Train first: t2t-trainer "
                        f"--problem={FLAGS.problem} --model={FLAGS.model} ... "
                        f"--output_dir={checkpoint}")
    hparams = _hparams().freeze()
    encoders = problem.get_feature_encoders(FLAGS.data_dir)
    task = _task(problem)
    if task is not None:   # the task's own target encoder (class labels), tagged inputs
        encoders = problem.task_feature_encoders(task, FLAGS.data_dir)
        encoders["inputs"] = _TaggedInputs(encoders["inputs"], encoders["inputs"].tag_id(task))
    model = build_model(FLAGS.model, hparams, problem.get_hparams(hparams, FLAGS.data_dir))
    path = decoder_lib.load(model, checkpoint)
    logging.info("Restored %s", path)
    class_label = model.task_is_class_label(task) \
        if task is not None and hasattr(model, "task_is_class_label") else None
    decoder = decoder_lib.Decoder(model, encoders.get("inputs"), encoders["targets"], dhp,
                                  class_label=class_label)
    if FLAGS.decode_interactive:
        decoder.decode_interactive()
        return
    if FLAGS.decode_from_file:
        references = _read_lines(FLAGS.decode_reference, "decode_reference") \
            if FLAGS.decode_reference else None
        start = time.time()
        outputs = decoder.decode_from_file(FLAGS.decode_from_file, FLAGS.decode_to_file)
        logging.info("decoded %d lines in %.1fs", len(outputs), time.time() - start)
        if references is not None:
            _report(outputs, references[:len(outputs)] if dhp.num_samples > 0 else references)
        return
    # Decode a split of the problem's own data and score it against its targets.
    ds = problem.dataset("infer", FLAGS.data_dir, hparams, batched=False, shuffle=False,
                         repeat=False, split=FLAGS.decode_split,
                         **({} if task is None else {"task": task}))
    inputs, references = [], []
    for ex in ds:
        if 0 < dhp.num_samples <= len(inputs):
            break
        target = decoder.target_ids(ex["targets"].numpy())
        if decoder.has_inputs:
            inputs.append(decoder_lib.cut(ex["inputs"].numpy()) + [decoder_lib.EOS_ID])
        else:   # a language model continues the first half of each target
            inputs.append(decoder_lib.prompt_from_target(target))
        references.append(encoders["targets"].decode(target))
    hypotheses = decoder.decode_encoded(inputs)
    if FLAGS.decode_to_file:
        with open(FLAGS.decode_to_file + ".tmp", "w", encoding="utf-8") as f:
            f.write("".join(h + "\n" for h in hypotheses))
        os.replace(FLAGS.decode_to_file + ".tmp", FLAGS.decode_to_file)
    # with return_beams each line holds every beam, tab-separated: score the best one
    _report([h.split("\t")[0] for h in hypotheses], references)


def console_main():
    cli.run(main)


if __name__ == "__main__":
    console_main()
