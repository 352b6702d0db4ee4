"""The Problem API: how a dataset is generated, read, preprocessed and batched.

A Problem generates sharded TFRecords once (`generate_data`), then serves them as a
tf.data pipeline (`dataset`): parse -> swap inputs/targets when the name ends in `_rev`
-> `preprocess_example` -> filter by `max_length` (training; eval only with
`eval_drop_long_sequences`) -> bucket into batches of about `batch_size` tokens. It also declares its modalities and vocab sizes (`hparams`), its
text encoders (`feature_encoders`) and its eval metrics (`eval_metrics`).

Reading takes an `InputConfig` (t2tlike/input_pipeline.py), never model hparams: the
caller builds it once with `problem.input_config(hparams)`, which resolves T2T's
`max_length(model_hparams)` hook, and `preprocess_example` receives that config.
"""
import glob
import os

from t2tlike import registry
from t2tlike.errors import UserError
from t2tlike.hparams import HParams


class DatasetSplit:
    TRAIN = "train"
    EVAL = "dev"
    TEST = "test"


Split = DatasetSplit


class ModeKeys:
    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"


_MODE_TO_SPLIT = {ModeKeys.TRAIN: DatasetSplit.TRAIN, ModeKeys.EVAL: DatasetSplit.EVAL,
                  ModeKeys.PREDICT: DatasetSplit.EVAL}


class Metrics:
    ACC = "accuracy"
    ACC_PER_SEQ = "accuracy_per_sequence"
    NEG_LOG_PERPLEXITY = "neg_log_perplexity"
    APPROX_BLEU = "approx_bleu_score"
    BLEU = "bleu"   # real sacreBLEU of greedy decodes of a dev slice (see t2tlike/metrics.py)


def default_problem_hparams():
    """Problem-side keys that `Problem.hparams` fills in."""
    return HParams(modality={}, vocab_size={}, input_space_id=0, target_space_id=0,
                   loss_multiplier=1.0, batch_size_multiplier=1, stop_at_eos=True,
                   was_reversed=False, has_inputs=True)


class Problem:
    """Base class of every problem; subclasses override the methods named in the docstring."""

    def __init__(self, was_reversed=False):
        self._was_reversed = was_reversed
        self._encoders = None
        self._hparams = None

    # -- names ---------------------------------------------------------------------
    @property
    def base_name(self):
        cls = type(self)   # a subclass that was not registered itself gets its own name
        return cls.__dict__.get("registered_name") or registry.default_name(cls)

    @property
    def name(self):
        return self.base_name + (registry.REVERSED_SUFFIX if self._was_reversed else "")

    @property
    def was_reversed(self):
        return self._was_reversed

    def dataset_filename(self):
        """The file prefix of this problem's shards (a `_rev` problem reads the same files)."""
        return self.base_name

    # -- data generation -------------------------------------------------------------
    def generate_data(self, data_dir, tmp_dir, task_id=-1):
        raise NotImplementedError(f"{type(self).__name__} does not implement generate_data")

    # -- problem description ------------------------------------------------------------
    def hparams(self, defaults, model_hparams):
        """Fills `defaults` (see default_problem_hparams): modality, vocab_size, ...."""

    def get_hparams(self, model_hparams=None, data_dir=None):
        """The problem hparams, with inputs/targets swapped for a `_rev` problem.

        `data_dir` is where the vocabulary lives (vocab sizes depend on it).
        `model_hparams` goes to the `hparams` hook as it is (None when the caller has none,
        e.g. a tool that only needs vocab sizes).
        """
        if self._hparams is None:
            self.get_feature_encoders(data_dir)
            hp = default_problem_hparams()
            self.hparams(hp, model_hparams)
            if "inputs" not in hp.modality:
                hp.has_inputs = False
            if self._was_reversed:
                hp.modality = _swap(hp.modality)
                hp.vocab_size = _swap(hp.vocab_size)
                hp.input_space_id, hp.target_space_id = hp.target_space_id, hp.input_space_id
                hp.was_reversed = True
            self._hparams = hp.freeze()
        return self._hparams

    @property
    def has_inputs(self):
        return "inputs" in self.get_feature_encoders()

    def feature_encoders(self, data_dir):
        from data_generators import text_encoder
        return {"inputs": text_encoder.TextEncoder(), "targets": text_encoder.TextEncoder()}

    def get_feature_encoders(self, data_dir=None):
        """The encoders by feature name (swapped for a `_rev` problem); built once."""
        if self._encoders is None:
            self._encoders = self.feature_encoders(data_dir)   # as generated, unswapped
        return _swap(self._encoders) if self._was_reversed else self._encoders

    def eval_metrics(self):
        return [Metrics.ACC, Metrics.ACC_PER_SEQ, Metrics.NEG_LOG_PERPLEXITY]

    def example_reading_spec(self):
        """(data_fields, decoders): the tf.io features to parse and optional decoders."""
        import tensorflow as tf
        data_fields = {"targets": tf.io.VarLenFeature(tf.int64)}
        if self.has_inputs:
            data_fields["inputs"] = tf.io.VarLenFeature(tf.int64)
        return data_fields, None

    def preprocess_example(self, example, mode, hparams):
        """A pure function features -> features, applied after parsing. `hparams` is the
        InputConfig that `dataset` was given (T2T's name for the argument)."""
        return example

    def max_length(self, model_hparams):
        """The longest example kept for training (T2T's hook; `input_config` calls it)."""
        return model_hparams.max_length or model_hparams.batch_size

    def input_config(self, model_hparams):
        """The InputConfig of `model_hparams` for this problem, with its max_length: what
        `dataset` reads, built once where the model hparams are known."""
        from t2tlike.input_pipeline import InputConfig
        return InputConfig.from_hparams(model_hparams, self.max_length(model_hparams))

    # -- reading -------------------------------------------------------------------
    def filepattern(self, data_dir, mode_or_split):
        split = _MODE_TO_SPLIT.get(mode_or_split, mode_or_split)
        return os.path.join(data_dir, f"{self.dataset_filename()}-{split}*")

    def data_files(self, data_dir, mode_or_split):
        pattern = self.filepattern(data_dir, mode_or_split)
        files = sorted(f for f in glob.glob(pattern) if not f.endswith(".incomplete"))
        if not files:
            where = ("has no such files" if os.path.isdir(data_dir or "") else
                     "is a file, not a folder" if os.path.exists(data_dir or "") else
                     "does not exist")
            raise UserError(
                f"no data for problem '{self.name}': data_dir {data_dir} {where} "
                f"(looked for {pattern}). Generate it with: t2t-datagen "
                f"--problem={self.base_name} --data_dir={data_dir}")
        return files

    def decode_example(self, serialized):
        import tensorflow as tf
        data_fields, decoders = self.example_reading_spec()
        parsed = tf.io.parse_single_example(serialized, data_fields)
        example = {}
        for key, value in parsed.items():
            if decoders and key in decoders:
                example[key] = decoders[key](value)
            elif isinstance(value, tf.sparse.SparseTensor):
                example[key] = tf.sparse.to_dense(value)
            else:
                example[key] = value
        return example

    def dataset(self, mode, data_dir, config=None, shuffle=None, repeat=None, batched=True,
                seed=None, max_records=-1, shard=None, split=None):
        """Examples of `mode` (ModeKeys) read from data_dir's shards.

        `config`: the InputConfig (`problem.input_config(hparams)`; None: InputConfig()).
        Unbatched: dicts of 1-D int32 sequences. Batched (default): dicts of
        [batch, length] int32, padded with 0, about `config.batch_size` tokens each.
        `shard=(index, count)`: the part read by input worker `index` of `count` (one of
        several training workers): every count-th file, or, with fewer files than workers,
        every count-th record of each file (logged in TRAIN mode).
        """
        import tensorflow as tf

        from t2tlike import input_pipeline
        config = input_pipeline.check_input_config(config)
        is_training = mode == ModeKeys.TRAIN
        shuffle = is_training if shuffle is None else shuffle
        repeat = is_training if repeat is None else repeat
        files = self.data_files(data_dir, split or mode)
        def read(path):   # with fewer files than workers: disjoint in any file order
            records = tf.data.TFRecordDataset(path)
            return records if every_file is None else records.shard(*every_file)
        every_file = None
        if shard is not None and len(files) >= shard[1]:
            files = files[shard[0]::shard[1]]
        elif shard is not None:
            every_file = (shard[1], shard[0])
            if is_training:
                from absl import logging
                logging.warning("%d %s file(s) for %d input workers: each worker reads every "
                                "%d-th record of every file. Write at least as many shards as "
                                "workers to give each its own files.", len(files), self.name,
                                shard[1], shard[1])
        ds = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            ds = ds.shuffle(len(files), seed=seed)
        # in file order unless shuffling without a seed (then as the reads finish)
        ds = ds.interleave(read, cycle_length=min(len(files), 8),
                           num_parallel_calls=tf.data.AUTOTUNE,
                           deterministic=not shuffle or seed is not None)
        if max_records > 0:
            ds = ds.take(max_records)
        ds = ds.map(self.decode_example, num_parallel_calls=tf.data.AUTOTUNE)
        if self._was_reversed:
            ds = ds.map(_swap_features)
        ds = ds.map(lambda ex: self.preprocess_example(ex, mode, config),
                    num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.map(lambda ex: {k: tf.cast(v, tf.int32) if v.dtype == tf.int64 else v
                                for k, v in ex.items()})
        if is_training or (mode == ModeKeys.EVAL and config.eval_drop_long_sequences):
            ds = input_pipeline.filter_by_max_length(ds, config.max_length)
        if shuffle:
            ds = ds.shuffle(4096, seed=seed)
        if repeat:
            ds = ds.repeat()
        if batched:
            ds = self.batch(ds, config)
        return ds.prefetch(tf.data.AUTOTUNE)

    def batch(self, ds, config):
        """Examples -> dicts of [batch, length] (0-padded), about config.batch_size tokens
        each, bucketed by length (config: an InputConfig)."""
        from t2tlike import input_pipeline
        config = input_pipeline.check_input_config(config, "Problem.batch")
        return input_pipeline.batch_by_tokens(
            ds, config.batch_size, config.max_length,
            min_length=config.min_length_bucket,
            length_bucket_step=config.length_bucket_step)


def _swap(d):
    d = dict(d)
    if "inputs" in d and "targets" in d:
        d["inputs"], d["targets"] = d["targets"], d["inputs"]
    return d


def _swap_features(example):
    return _swap(example)
