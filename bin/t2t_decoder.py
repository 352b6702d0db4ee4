r"""t2t-decoder: decode with a trained model (greedy or beam search).

  t2t-decoder --problem=P --model=transformer --hparams_set=transformer_tiny \
              --data_dir=$D --output_dir=$O --decode_hparams="beam_size=4,alpha=0.6" \
              --decode_from_file=in.txt --decode_to_file=out.txt [--decode_reference=ref.txt]

Without --decode_from_file or --decode_interactive it decodes --decode_split of the
problem's data (default: dev) and reports exact-match accuracy against its targets.

--decode_from_file is streamed (`buffer_size` lines at a time, written in order as each
buffer is done); a run that was killed continues with --decode_resume. An input longer
than the decode hparam max_input_size (default -1: the problem's max_length for the
run's hparams; 0: no limit) is cut to it, with a warning. The decode hparam
parallel_batches batches (default one per CPU core) are decoded at once; for an input of
more than one batch, with the thread flags at 0, each op then runs on one thread, one
batch per core.

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
import itertools
import os
import time

from absl import flags, logging

from t2tlike_cli import cli

FLAGS = flags.FLAGS

flags.DEFINE_bool("decode_resume", False, "Continue a --decode_to_file that a killed run "
                  "left part-way (its .incomplete file), instead of starting afresh.")
flags.DEFINE_string("decode_from_file", None, "Decode the lines of this file.")
flags.DEFINE_string("decode_to_file", None, "Write the decodes here (default: stdout).")
flags.DEFINE_string("decode_reference", None, "Reference file: report exact match and BLEU.")
flags.DEFINE_bool("decode_interactive", False, "Decode lines typed on stdin.")
flags.DEFINE_string("decode_split", "dev", "Split decoded when no file is given: train, dev "
                    "or test. Without inputs (a language model) the first half of each "
                    "target is the prompt.")


def main(argv):
    from t2tlike import registry
    from t2tlike.decoding import decoder as decoder_lib
    from t2tlike.decoding import tasks
    from t2tlike.errors import UserError
    from t2tlike.files import read_text, writable_dir
    cli.require("problem", "model", "data_dir")
    if not (FLAGS.output_dir or FLAGS.checkpoint_path):
        raise UserError("missing required flag: --output_dir (or --checkpoint_path).")
    problem = registry.problem(FLAGS.problem)
    registry.model(FLAGS.model)
    dhp = decoder_lib.decode_hparams(FLAGS.decode_hparams)
    if FLAGS.decode_from_file and not os.path.isfile(FLAGS.decode_from_file):
        raise UserError(f"--decode_from_file: {FLAGS.decode_from_file} does not exist or is "
                        "not a file.")
    if FLAGS.decode_to_file:   # checked before any work: a bad path fails now, not at the end
        if os.path.isdir(FLAGS.decode_to_file):
            raise UserError(f"--decode_to_file={FLAGS.decode_to_file} is a folder; give a file "
                            "name.")
        writable_dir(os.path.dirname(os.path.abspath(FLAGS.decode_to_file)),
                     "--decode_to_file's folder")
    if FLAGS.decode_resume and not (FLAGS.decode_from_file and FLAGS.decode_to_file):
        raise UserError("--decode_resume continues a --decode_to_file of a "
                        "--decode_from_file: give both.")
    if not FLAGS.decode_interactive and _more_than_one_batch(dhp):
        cli.threads_unless_given(decoder_lib.batch_threads(dhp),
                                 "one core per batch, parallel_batches at once")
    task = tasks.task_index(problem, FLAGS.task)
    encoders = tasks.feature_encoders(problem, FLAGS.data_dir, task)
    checkpoint, hparams, model, dhp = cli.restore_trained_model(problem, dhp)
    logging.info("Restored %s", checkpoint)
    decoder = decoder_lib.Decoder(model, encoders.get("inputs"), encoders["targets"], dhp,
                                  class_label=tasks.is_class_label(model, task))
    if FLAGS.decode_interactive:
        decoder.decode_interactive()
        return
    if FLAGS.decode_from_file:
        references = read_text(FLAGS.decode_reference, "--decode_reference").splitlines() \
            if FLAGS.decode_reference else None
        start = time.time()
        to_stdout = references is not None and not FLAGS.decode_to_file
        outputs = decoder.decode_from_file(FLAGS.decode_from_file, FLAGS.decode_to_file,
                                           resume=FLAGS.decode_resume, keep=to_stdout)
        logging.info("decoded %d lines in %.1fs", len(outputs) if to_stdout else outputs,
                     time.time() - start)
        if references is not None:
            if not to_stdout:   # every decode, those of a resumed run's first part too
                outputs = read_text(FLAGS.decode_to_file, "--decode_to_file").split(
                    dhp.delimiter)[:-1]
            print(decoder_lib.score_report(
                outputs, references[:len(outputs)] if dhp.num_samples > 0 else references))
        return
    # Decode a split of the problem's own data and score it against its targets.
    examples = problem.dataset("infer", FLAGS.data_dir, problem.input_config(hparams),
                               batched=False, shuffle=False, repeat=False,
                               split=FLAGS.decode_split,
                               **({} if task is None else {"task": task}))
    hypotheses, references = decoder.decode_examples(examples.as_numpy_iterator(),
                                                     FLAGS.decode_to_file)
    print(decoder_lib.score_report(hypotheses, references))


def _more_than_one_batch(dhp):
    """Whether the decode holds more than one batch: the first lines of --decode_from_file
    tell (and num_samples); a split's size is not known up front, so only num_samples."""
    size = max(int(dhp.batch_size), 1)
    if 0 < dhp.num_samples <= size:
        return False
    if not FLAGS.decode_from_file:
        return True
    from t2tlike.files import read_lines
    head = itertools.islice(read_lines(FLAGS.decode_from_file, "--decode_from_file"), size + 1)
    return sum(1 for _ in head) > size


def console_main():
    cli.run(main)


if __name__ == "__main__":
    console_main()
