"""TensorFlow Datasets as problems, without writing a class: `--problem=tfds:<dataset>`.

    tfds:NAME[/CONFIG][:VERSION][?key=value&key=value...]

    tfds:wmt14_translate/de-en                    translation de -> en (the config's order)
    tfds:wmt14_translate/de-en?source=en&target=de
    tfds:imdb_reviews                             "text" + ClassLabel "label": classification
    tfds:lm1b                                     one "text" feature: language modelling
    tfds:glue/sst2?text=sentence                  name the text feature yourself

What the dataset becomes is read from its features, first rule that applies:

1. `source=` / `target=` given: text to text between those two Text features.
2. `text=` / `label=` given: classification of `text` by the ClassLabel `label`, or
   language modelling of `text` when there is no label (`label=none` forces it).
3. A Translation feature dict (wmt*, ted_hrlr_translate, ...): text to text, source and
   target in the order of the config's language pair (`de-en`: de -> en), else of the
   dataset's supervised keys.
4. Supervised keys (a, b): two Text features -> text to text; Text and ClassLabel ->
   classification; (text, text) -> language modelling.
5. A feature "text" (or the only Text feature), with a ClassLabel "label" (or the only
   ClassLabel) -> classification, else language modelling.

Options (the rest of the query): `vocab_size` (approximate SentencePiece size, default
8192), `vocab_samples` (how many training examples the vocabulary is built from, default
100000), `max_examples` (cap each split, for a quick look at a huge dataset), and `train=`,
`dev=`, `test=` (TFDS split expressions such as `train[:95%]`). By default TFDS's train /
validation / test become train / dev / test; a dataset without a validation split uses its
test split as dev.

TFDS downloads and prepares into $TFDS_DATA_DIR when it is set, else into
`<tmp_dir>/tensorflow_datasets`. The shards and vocabulary go to data_dir like any other
problem's, under a file-safe name (`tfds_wmt14_translate_de_en-train-00000-of-00010`), so
the trainer and decoder read them with no TFDS-specific code.
"""
import hashlib
import itertools
import os
import re

from absl import logging

from data_generators import text_problems
from data_generators.problem import DatasetSplit
from t2tlike import files, registry
from t2tlike.errors import UserError, did_you_mean

PREFIX = "tfds:"
USAGE = (PREFIX + "NAME[/CONFIG][:VERSION][?source=..&target=..|text=..&label=..]  any "
         "TensorFlow Datasets text dataset (see docs/tfds_and_averaging.md)")

DEFAULT_VOCAB_SIZE = 2 ** 13
DEFAULT_VOCAB_SAMPLES = 100_000
TRAIN_SHARDS = 10

# option -> (what it sets, whether it changes the generated data and so the file names)
OPTIONS = {
    "source": ("text-to-text: the Text feature (language) read as inputs", True),
    "target": ("text-to-text: the Text feature (language) read as targets", True),
    "text": ("classification / language modelling: the Text feature", True),
    "label": ("classification: the ClassLabel feature ('none': language modelling)", True),
    "vocab_size": ("approximate SentencePiece vocabulary size", False),
    "vocab_samples": ("training examples the vocabulary is built from", False),
    "max_examples": ("at most this many examples per split", True),
    "train": ("TFDS split expression for train", True),
    "dev": ("TFDS split expression for dev", True),
    "test": ("TFDS split expression for test", True),
}
_INT_OPTIONS = ("vocab_size", "vocab_samples", "max_examples")
_NAME = re.compile(r"^(?P<dataset>[a-z0-9_]+)(/(?P<config>[^:/?]+))?(:(?P<version>[0-9.*]+))?$")
# our split -> TFDS split names tried in order when no expression is given
_DEFAULT_SPLITS = {DatasetSplit.TRAIN: ("train",),
                   DatasetSplit.EVAL: ("validation", "dev", "valid", "test"),
                   DatasetSplit.TEST: ("test",)}

TEXT2TEXT, TEXT2SELF, TEXT2CLASS = "text2text", "text2self", "text2class"


def _tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise UserError("tfds: problems need the tensorflow-datasets package: "
                        "pip install tensorflow-datasets") from e
    return tfds


def parse_spec(spec):
    """'tfds:NAME[/CONFIG][:VERSION][?k=v&...]' -> (tfds name, {option: value}).

    Values are kept verbatim (no %-unquoting), so split expressions like `train[:95%]`
    need no escaping.
    """
    if not spec.startswith(PREFIX):
        raise ValueError(f"not a {PREFIX} problem name: {spec!r}")
    name, _, query = spec[len(PREFIX):].partition("?")
    if not _NAME.match(name):
        raise UserError(f"malformed TFDS problem name {spec!r}; expected "
                        f"{PREFIX}NAME[/CONFIG][:VERSION][?key=value&...], e.g. "
                        f"{PREFIX}wmt14_translate/de-en or {PREFIX}imdb_reviews.")
    options = {}
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        if not eq or not value:
            raise UserError(f"{spec}: malformed option {item!r}; options look like key=value, "
                            "joined by '&'.")
        if key not in OPTIONS:
            raise UserError(f"{spec}: unknown option {key!r}.{did_you_mean(key, OPTIONS)} "
                            f"Options: {', '.join(OPTIONS)}.")
        if key in _INT_OPTIONS:
            if not value.isdigit() or int(value) < 1:
                raise UserError(f"{spec}: option {key} expects a positive integer, got {value!r}.")
            value = int(value)
        options[key] = value
    return name, options


def load_builder(name, data_dir=None):
    """tfds.builder(name), with unknown datasets, configs and versions as UserErrors."""
    tfds = _tfds()
    dataset = _NAME.match(name).group("dataset")
    config = _NAME.match(name).group("config")
    try:
        cls = tfds.builder_cls(dataset)
    except tfds.core.registered.DatasetNotFoundError:
        known = tfds.list_builders(with_community_datasets=False)
        raise UserError(f"unknown TFDS dataset '{dataset}'.{did_you_mean(dataset, known)} "
                        "See https://www.tensorflow.org/datasets/catalog or list them with: "
                        "python -c 'import tensorflow_datasets as t; print(t.list_builders())'"
                        ) from None
    configs = [c.name for c in getattr(cls, "BUILDER_CONFIGS", None) or []]
    if config and configs and config not in configs:
        raise UserError(f"TFDS dataset '{dataset}' has no config '{config}'."
                        f"{did_you_mean(config, configs)} Its configs: "
                        f"{', '.join(configs[:30])}{' ...' if len(configs) > 30 else ''}.")
    try:
        return tfds.builder(name, data_dir=data_dir)
    except (ValueError, AssertionError) as e:   # e.g. a version that does not exist
        raise UserError(f"cannot load TFDS dataset '{name}': {str(e).splitlines()[0]}") from None


class TfdsSource:
    """One TFDS dataset read as plain dicts: which features, which splits, where it lives."""

    def __init__(self, spec):
        self.spec = spec
        self.name, self.options = parse_spec(spec)
        lookup = load_builder(self.name)   # info from the dataset's code; downloads nothing
        self._info, self._config = lookup.info, lookup.builder_config
        self.kind, self.fields = self._resolve(self._info)
        self._builder = None       # the builder that generates (after prepare)
        self._available = None     # TFDS split names after prepare (None: unknown)

    # -- what the dataset is -----------------------------------------------------------
    def _resolve(self, info):
        """(kind, fields) from the options and features; see the module docstring."""
        tfds = _tfds()
        features = info.features
        if not hasattr(features, "items"):
            raise UserError(f"{self.spec}: its features are not a dict of named features; only "
                            "text datasets can be used as tfds: problems.")
        texts = [k for k, f in features.items() if isinstance(f, tfds.features.Text)]
        labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
        opts = self.options
        keys = info.supervised_keys if isinstance(info.supervised_keys, tuple) else None
        if "source" in opts or "target" in opts:
            source, target = opts.get("source"), opts.get("target")
            if not (source and target):
                self._check({"source" if source else "target": source or target}, texts, labels)
                others = [t for t in texts if t != (source or target)]
                if len(others) != 1:
                    raise UserError(f"{self.spec}: name both sides: ?source=X&target=Y (its Text "
                                    f"features: {texts}).")
                source, target = (source, others[0]) if source else (others[0], target)
            return TEXT2TEXT, self._check({"source": source, "target": target}, texts, labels)
        if "text" in opts or "label" in opts:
            text = opts.get("text") or self._pick_text(texts)
            label = opts.get("label") or ("label" if "label" in labels else
                                          labels[0] if len(labels) == 1 else "none")
            return self._text_kind(text, None if label == "none" else label, texts, labels)
        if isinstance(features, tfds.features.Translation):
            source, target = self._default_pair(info, texts)
            return TEXT2TEXT, self._check({"source": source, "target": target}, texts, labels)
        if keys and len(keys) == 2 and all(isinstance(k, str) for k in keys):
            a, b = keys
            if a in texts and b in texts and a != b:
                return TEXT2TEXT, {"source": a, "target": b}
            if a in texts and (b in labels or b == a):
                return self._text_kind(a, b if b in labels else None, texts, labels)
        if texts:
            text = self._pick_text(texts)
            label = "label" if "label" in labels else labels[0] if len(labels) == 1 else None
            return self._text_kind(text, label, texts, labels)
        raise UserError(f"{self.spec}: no Text feature to read (features: "
                        f"{self._describe(features)}); only text datasets can be tfds: problems.")

    def _text_kind(self, text, label, texts, labels):
        if label is None:
            return TEXT2SELF, self._check({"text": text}, texts, labels)
        return TEXT2CLASS, self._check({"text": text, "label": label}, texts, labels)

    def _default_pair(self, info, texts):
        """(source, target): the config's language pair, else the supervised keys."""
        config = self._config
        pair = getattr(config, "language_pair", None)
        if not pair and config is not None:
            match = re.match(r"^([A-Za-z_]+?)(?:-|_to_)([A-Za-z_]+)$", config.name)
            pair = match.groups() if match else None
        if not pair and isinstance(info.supervised_keys, tuple):
            pair = info.supervised_keys
        pair = tuple(pair or ())
        if len(pair) == 2 and all(p in texts for p in pair):
            return pair
        if len(texts) == 2:
            return tuple(texts)
        raise UserError(f"{self.spec}: cannot tell source from target among the Text features "
                        f"{texts}; name them: {self.spec.partition('?')[0]}?source=X&target=Y")

    def _pick_text(self, texts):
        """The Text feature "text", else the only Text feature."""
        if "text" in texts or len(texts) == 1:
            return "text" if "text" in texts else texts[0]
        raise UserError(f"{self.spec}: which Text feature is the text? It has {texts or 'none'}; "
                        "name it with ?text=FEATURE.")

    def _check(self, fields, texts, labels):
        for role, feature in fields.items():
            wanted = labels if role == "label" else texts
            if feature not in wanted:
                kind = "ClassLabel" if role == "label" else "Text"
                raise UserError(f"{self.spec}: {role}={feature!r} is not a {kind} feature of "
                                f"{self.name}; its {kind} features: {wanted or 'none'}"
                                f" (all features: {self._describe(self._info.features)}).")
            if role != "label" and getattr(self._info.features[feature], "encoder", None):
                raise UserError(f"{self.spec}: feature {feature!r} is stored pre-encoded by TFDS; "
                                "use a config with plain text (e.g. imdb_reviews/plain_text).")
        return fields

    @staticmethod
    def _describe(features):
        return ", ".join(f"{k} ({type(f).__name__})" for k, f in features.items())

    @property
    def class_names(self):
        return list(self._info.features[self.fields["label"]].names)

    @property
    def file_prefix(self):
        """A file-safe name: 'tfds_wmt14_translate_de_en', plus the data-changing options
        (and a short hash of them when making them file-safe lost information)."""
        data_options = [f"{k}_{v}" for k, v in sorted(self.options.items()) if OPTIONS[k][1]]
        name = "tfds_" + re.sub(r"[^A-Za-z0-9]+", "_",
                                "_".join([self.name] + data_options)).strip("_")
        if any(re.search(r"[^A-Za-z0-9_]", o) for o in data_options):
            name += "_" + hashlib.sha1("&".join(data_options).encode()).hexdigest()[:8]
        return name

    # -- reading -------------------------------------------------------------------------
    def prepare(self, tmp_dir):
        """Downloads and prepares the dataset (once) into $TFDS_DATA_DIR or tmp_dir."""
        if self._builder is not None:
            return self._builder
        tfds = _tfds()
        data_dir = os.environ.get("TFDS_DATA_DIR") or \
            os.path.join(tmp_dir or files.default_tmp_dir(), "tensorflow_datasets")
        builder = load_builder(self.name, data_dir=data_dir)
        logging.info("Preparing TFDS dataset %s in %s", self.name, data_dir)
        try:
            builder.download_and_prepare()
        except tfds.core.download.DownloadError as e:
            raise UserError(f"downloading TFDS dataset {self.name} failed: {e}") from None
        except AssertionError as e:
            if not getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None):
                raise
            raise UserError(f"TFDS dataset {self.name} needs a manual download: "
                            f"{str(e).strip()}") from None
        self._builder = builder
        self._available = list(builder.info.splits.keys()) or None
        return builder

    def split_expression(self, split):
        """The TFDS split read for our `split` (train/dev/test), or None when it has none."""
        if split in self.options:
            return self.options[split]
        for name in _DEFAULT_SPLITS[split]:
            if self._available is None or name in self._available:
                if split == DatasetSplit.EVAL and name == "test":
                    logging.warning("%s has no validation split; its test split is the dev "
                                    "split (choose another with ?dev=train[:5%%]&"
                                    "train=train[5%%:]).", self.name)
                return name
        if split == DatasetSplit.TEST:
            return None
        raise UserError(f"{self.spec}: TFDS dataset {self.name} has no split for {split} "
                        f"(its splits: {self._available}). Name one, e.g. "
                        f"{self.spec.partition('?')[0]}?dev=train[:5%]&train=train[5%:]")

    def examples(self, tmp_dir, split):
        """Yields dicts {role: str or int} (roles: source/target, text, label) of `split`."""
        builder = self.prepare(tmp_dir)
        expression = self.split_expression(split)
        if expression is None:
            return
        try:
            ds = builder.as_dataset(split=expression, shuffle_files=False)
        except (ValueError, KeyError) as e:
            raise UserError(f"{self.spec}: cannot read split {expression!r} of {self.name}: "
                            f"{str(e).splitlines()[0]}") from None
        rows = ds.as_numpy_iterator()
        if "max_examples" in self.options:
            rows = itertools.islice(rows, self.options["max_examples"])
        for row in rows:
            yield {role: _python(row[feature]) for role, feature in self.fields.items()}


def _python(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return int(value)


class _TfdsProblem:
    """What every tfds: problem shares; comes first in the bases of the three below."""

    def __init__(self, source, was_reversed=False):
        super().__init__(was_reversed=was_reversed)
        self.source = source

    @property
    def base_name(self):
        return self.source.spec

    def dataset_filename(self):
        return self.source.file_prefix

    @property
    def approx_vocab_size(self):
        return self.source.options.get("vocab_size", DEFAULT_VOCAB_SIZE)

    @property
    def max_samples_for_vocab(self):
        return self.source.options.get("vocab_samples", DEFAULT_VOCAB_SAMPLES)

    @property
    def dataset_splits(self):
        splits = [{"split": DatasetSplit.TRAIN, "shards": TRAIN_SHARDS},
                  {"split": DatasetSplit.EVAL, "shards": 1}]
        if self.source.split_expression(DatasetSplit.TEST) is not None:
            splits.append({"split": DatasetSplit.TEST, "shards": 1})
        return splits

    def generate_data(self, data_dir, tmp_dir, task_id=-1):
        self.source.prepare(tmp_dir)   # the available splits are known from here on
        super().generate_data(data_dir, tmp_dir, task_id)


class TfdsText2TextProblem(_TfdsProblem, text_problems.Text2TextProblem):
    """Text to text (translation, summarisation) between two Text features."""

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        for ex in self.source.examples(tmp_dir, dataset_split):
            yield {"inputs": ex["source"], "targets": ex["target"]}


class TfdsText2SelfProblem(_TfdsProblem, text_problems.Text2SelfProblem):
    """Language modelling of one Text feature."""

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        for ex in self.source.examples(tmp_dir, dataset_split):
            yield {"targets": ex["text"]}


class TfdsText2ClassProblem(_TfdsProblem, text_problems.Text2ClassProblem):
    """Classification of a Text feature by a ClassLabel feature (labels keep their names)."""

    @property
    def num_classes(self):
        return len(self.source.class_names)

    def class_labels(self, data_dir):
        return self.source.class_names

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        for ex in self.source.examples(tmp_dir, dataset_split):
            yield {"inputs": ex["text"], "label": ex["label"]}


_CLASSES = {TEXT2TEXT: TfdsText2TextProblem, TEXT2SELF: TfdsText2SelfProblem,
            TEXT2CLASS: TfdsText2ClassProblem}


def tfds_problem(spec, was_reversed=False):
    """The problem for a 'tfds:...' name (the registry calls this for the prefix)."""
    source = TfdsSource(spec)
    logging.info("%s: %s of %s", spec, source.kind, source.fields)
    return _CLASSES[source.kind](source, was_reversed=was_reversed)


registry.problems.register_prefix(PREFIX, tfds_problem, USAGE)
