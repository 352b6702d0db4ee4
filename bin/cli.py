"""What every CLI shares: common flags, start-up (TensorFlow, threads, user code, gin) and
error handling.

A user mistake (bad flag, unknown name, missing file, malformed hparams) ends in one
line on stderr and exit status 2. Only bin/ reads flags; the library gets plain values.
"""
import logging as pylogging
import os
import re
import sys
import tempfile

# TensorFlow's C++ log: warnings and errors only, unless the user chose a level.
_USER_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from t2tlike import files  # noqa: E402
from t2tlike.errors import Stopped, UserError  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_string("problem", None, "Registered problem name (a `_rev` suffix swaps inputs "
                    "and targets).")
flags.DEFINE_string("model", None, "Registered model name, e.g. transformer.")
flags.DEFINE_string("hparams_set", None, "Registered hparams set, e.g. transformer_base.")
flags.DEFINE_string("hparams", "", "Overrides of the hparams set: 'name=value,name=value'.")
flags.DEFINE_string("data_dir", None, "Directory of the generated TFRecords and vocabularies.")
flags.DEFINE_string("tmp_dir", files.default_tmp_dir(),
                    "Directory for downloads and raw files (default: in this user's cache).")
flags.DEFINE_string("output_dir", None, "Directory for checkpoints, summaries and the config.")
flags.DEFINE_string("t2t_usr_dir", None, "A directory or .py file with your own problems, "
                    "models or hparams sets to register.")
flags.DEFINE_multi_string("gin_file", [], "Gin config files (bind pluggable components).")
flags.DEFINE_multi_string("gin_param", [], "Gin bindings, e.g. "
                          "'keras.optimizers.Adam.amsgrad = True'.")
flags.DEFINE_string("checkpoint_path", None, "A checkpoint to restore (a prefix, or a run's "
                    "directory for its latest). t2t-decoder decodes with it (default: the "
                    "latest in --output_dir); t2t-benchmark's decode figures use its weights "
                    "(default: the freshly trained model, which rarely emits EOS, so a "
                    "worst-case figure).")
flags.DEFINE_string("decode_hparams", "", "t2t-decoder, t2t-exporter: decode hparams, e.g. "
                    "'beam_size=4,alpha=0.6,extra_length=100,batch_size=32,return_beams=false,"
                    "num_samples=-1,buffer_size=10000,max_input_size=-1'.")
flags.DEFINE_string("task", None, "t2t-decoder, t2t-exporter: the task of a multi-problem "
                    "(its name or index); its tag is put in front of every input line.")
flags.DEFINE_bool("registry_help", False, "List every registered name and exit.")
flags.DEFINE_integer("random_seed", None, "Random seed (unset: not seeded).")
flags.DEFINE_integer("intra_op_parallelism_threads", 0, "Threads one op (a matmul) may use "
                     "on the CPU; 0: TensorFlow's default, one per core (t2t-decoder on more "
                     "than one batch: 1, see the decode hparam parallel_batches).")
flags.DEFINE_integer("inter_op_parallelism_threads", 0, "Ops that may run at once on the "
                     "CPU; 0: TensorFlow's default, one per core (t2t-decoder on more than "
                     "one batch: parallel_batches).")
app.define_help_flags()


class _Formatter(pylogging.Formatter):
    def format(self, record):
        return f"{self.formatTime(record, '%H:%M:%S')} {record.getMessage()}"


# What TensorFlow's SavedModel writer logs through absl on every export and checkpoint:
# renamed function inputs, sharding timings, the fingerprint's path; nothing to act on.
_SAVE_NOISE = re.compile(r"with unsupported characters which will be renamed|"
                         r"^Sharding callback duration|^Writing fingerprint to")


def _setup_logging():
    logging.set_verbosity(logging.INFO)
    logging.get_absl_handler().setFormatter(_Formatter())
    logging.get_absl_handler().addFilter(
        lambda record: not _SAVE_NOISE.search(record.getMessage()))
    logging.use_absl_handler()
    pylogging.getLogger("tensorflow").setLevel(pylogging.ERROR)


# What TensorFlow prints on stderr while it starts on a healthy machine without a GPU (some
# of it before its C++ log level applies): nothing a user needs to act on.
START_UP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|cudart_stub\.cc|cuda_platform\.cc|"
    r"failed call to cuInit|cpu_feature_guard\.cc|rebuild TensorFlow with the appropriate "
    r"compiler flags|Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT Warning|"
    r"computation placer already registered")


def start_tensorflow():
    """Imports TensorFlow and looks for GPUs with its start-up noise (`START_UP_NOISE`)
    taken out of stderr; every other line it printed is passed on. A user who set
    TF_CPP_MIN_LOG_LEVEL sees everything."""
    if "tensorflow" in sys.modules or _USER_LOG_LEVEL:
        import tensorflow as tf
        tf.config.list_physical_devices("GPU")
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices("GPU")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not START_UP_NOISE.search(line):
                    print(line, file=sys.stderr)


def register_builtins():
    """Registers the built-in problems, models, hparams and gin-configurable components."""
    import data_generators.all_problems  # noqa: F401
    import t2tlike.input_pipeline  # noqa: F401
    import t2tlike.models  # noqa: F401
    import t2tlike.training.optimizers  # noqa: F401


def _load_user_code():
    from t2tlike import usr_dir
    usr_dir.load_plugins()
    if FLAGS.t2t_usr_dir:
        usr_dir.import_usr_dir(FLAGS.t2t_usr_dir)


def _parse_gin():
    if not (FLAGS.gin_file or FLAGS.gin_param):
        return
    import gin
    for path in FLAGS.gin_file:
        if not os.path.isfile(path):
            raise UserError(f"--gin_file {path} does not exist.")
    try:
        gin.parse_config_files_and_bindings(FLAGS.gin_file, FLAGS.gin_param)
    except Exception as e:  # gin raises ValueError/KeyError/SyntaxError for bad configs
        raise UserError(f"bad gin configuration: {e}") from e


def _set_threads():
    """T2T's thread flags, applied before TensorFlow runs its first op."""
    from t2tlike import run_config
    intra, inter = FLAGS.intra_op_parallelism_threads, FLAGS.inter_op_parallelism_threads
    if run_config.set_cpu_threads(intra, inter):
        logging.info("CPU threads: intra-op %s, inter-op %s.", intra or "default",
                     inter or "default")


def threads_unless_given(threads, why):
    """Sets the CPU threads (intra-op, inter-op) `threads` (None: nothing), for reason
    `why`, when both thread flags were left at 0 and TensorFlow has not started its
    threads yet (user code may have run an op)."""
    if threads is None or FLAGS.intra_op_parallelism_threads or \
            FLAGS.inter_op_parallelism_threads:
        return
    from t2tlike import run_config
    try:
        run_config.set_cpu_threads(*threads)
    except RuntimeError:
        return
    logging.info("CPU threads: intra-op %d, inter-op %d (%s; the thread flags choose "
                 "others).", *threads, why)


def require(*names):
    missing = [n for n in names if FLAGS[n].value in (None, "")]
    if missing:
        raise UserError(f"missing required flag(s): {', '.join('--' + n for n in missing)}.")


def restore_trained_model(problem, decode_hparams):
    """(checkpoint, hparams, model, decode hparams) of the run that --output_dir /
    --checkpoint_path name: the model built with the run's hparams (its hparams.json, or
    --hparams_set) and --hparams, restored strictly; decode_hparams' max_input_size -1
    becomes the problem's max_length (what the model was trained on)."""
    from t2tlike.decoding import decoder as decoder_lib
    from t2tlike.t2t_model import build_model
    checkpoint = decoder_lib.checkpoint_prefix(FLAGS.checkpoint_path or FLAGS.output_dir,
                                               run_dir=not FLAGS.checkpoint_path)
    hparams = decoder_lib.trained_hparams(FLAGS.output_dir, FLAGS.hparams_set,
                                          FLAGS.hparams).freeze()
    if decode_hparams.max_input_size < 0:
        decode_hparams = decode_hparams.replace(max_input_size=problem.max_length(hparams))
    model = build_model(FLAGS.model, hparams, problem.get_hparams(hparams, FLAGS.data_dir))
    decoder_lib.load(model, checkpoint)
    return checkpoint, hparams, model, decode_hparams


def run(main, argv=None):
    """Parses flags, loads user code and gin, runs main(argv); user errors exit 2."""
    argv = list(sys.argv if argv is None else argv)
    name = os.path.basename(argv[0]) if argv else "t2t"
    if any(a in ("--help", "-h", "--helpfull", "-?") for a in argv[1:]):
        doc = (sys.modules[main.__module__].__doc__ or "").strip()
        own = "\n\n".join(FLAGS.module_help(m) for m in (main.__module__, __name__))
        print(FLAGS.get_help() if "--helpfull" in argv else f"{doc}\n\n{own}")
        sys.exit(0)
    try:
        rest = FLAGS(argv)
    except flags.Error as e:
        print(f"{name}: error: {e}\nRun `{name} --helpfull` to list the flags.", file=sys.stderr)
        sys.exit(2)
    if len(rest) > 1:
        print(f"{name}: error: unexpected argument(s) {rest[1:]}; flags look like "
              "--name=value.", file=sys.stderr)
        sys.exit(2)
    _setup_logging()
    start_tensorflow()
    try:
        _set_threads()
        register_builtins()
        _load_user_code()
        if FLAGS.registry_help:
            from t2tlike import registry
            print(registry.help_string())
            return 0
        _parse_gin()
        main(rest)
    except UserError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        sys.exit(2)
    except Stopped as e:
        print(f"{name}: {e}", file=sys.stderr)
        sys.exit(e.exit_status)
    except KeyboardInterrupt:
        print(f"{name}: interrupted.", file=sys.stderr)
        sys.exit(130)
    return 0
