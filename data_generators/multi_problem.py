"""MultiProblem: several registered problems trained by one model, as one problem.

Every task's text goes through one shared SentencePiece vocabulary, and each example's
inputs start with a tag naming its task (Johnson et al., 2017, "Google's Multilingual
Neural Machine Translation System", arXiv:1611.04558, put the target language's token
on the source; T2T's MultiProblem prepended a task id). A multi-problem is either a
subclass that lists its tasks or a '+'-joined name on the command line::

    t2t-datagen --problem=translate_ende_multi30k+translate_enfr_multi30k ...

    class MyMulti(MultiProblem):                   # T2T's style works as well:
        task_list = ["translate_ende_multi30k",    # def __init__(self, was_reversed=False):
                     "algorithmic_reverse_binary40_rev"]  # super().__init__(was_reversed)
                                                   #     self.task_list.append(problem)

`task_list` holds Problem instances or registered names (each may end in `_rev`); a
MultiProblem in it contributes its own tasks.

Vocabulary and tags. One SentencePiece model (`approx_vocab_size`, default 8000) is built
from the training text of every task, interleaved line by line, at most
`max_samples_for_vocab` lines in all, and saved as data_dir/vocab.{dataset_filename}.
{approx_vocab_size}.model. Character-level and algorithmic text ("1 0 1") goes through it
too. Task i's tag is id `V + i` (V = the SentencePiece size), so the model's vocabulary
is V + num_tasks. `task_tag_encoder.TaskTagEncoder` is that vocabulary: plain text encodes
exactly as with the SentencePiece model, a tag reads and prints as `<task:NAME>` (the
task's `name`), and "<task:NAME> text" encodes to [V + i] + the text's ids.

Files. Each task keeps its own splits (the task's `dataset_splits` and shard counts;
train, dev and test for algorithmic problems) under

    {dataset_filename}_task{i}_{task file name}-{split}-{shard:05d}-of-{num_shards:05d}

where the task file name is the task's dataset_filename plus `_rev` for a reversed task
(the swap is made at generation, since the tag goes on the inputs), and the index keeps
files of a reordered task list from being read with the wrong tag. `dataset_filename` is
the name with '+' written as '__'; a name with other characters outside [A-Za-z0-9_.]
(tfds:...) or longer than 100 characters gets them replaced by '_' and a hash of the full
name appended, so different names never share files. Records hold
inputs = [tag] + ids + [EOS], targets = ids + [EOS] ([label] for a Text2ClassProblem
task) and task_id = [i]; a task without inputs (Text2SelfProblem) gets inputs [tag, EOS].
Training splits are shuffled after writing, as the algorithmic problems do.

Reading. `dataset(mode, data_dir, config, ..., task=None)` reads one task's examples, or
mixes every task's (training) or reads them in turn (eval); a TaskMixture
(t2tlike/input_pipeline.py) that the caller hands in steers the training mixture live. See
data_generators/multi_problem_data.py.
"""
import hashlib
import itertools
import os
import re

from absl import logging

from data_generators import generator_utils, multi_problem_data, text_encoder
from data_generators.problem import DatasetSplit, Problem
from data_generators.task_tag_encoder import TaskTagEncoder
from data_generators.text_problems import (Text2ClassProblem, Text2SelfProblem,
                                           Text2TextProblem, VocabType)
from t2tlike import registry
from t2tlike.errors import UserError, did_you_mean

MAX_FILENAME = 100
TEXT2TEXT, TEXT2SELF, TEXT2CLASS = "text2text", "text2self", "text2class"


def file_safe_name(name):
    """The file prefix for a problem name: 'a+b_rev' -> 'a__b_rev' (see the module doc)."""
    safe = name.replace("+", "__")
    cleaned = re.sub(r"[^A-Za-z0-9_.]", "_", safe)
    if cleaned == safe and len(safe) <= MAX_FILENAME:
        return safe
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned[:MAX_FILENAME - 9]}_{digest}"


def task_kind(task):
    """TEXT2CLASS, TEXT2SELF (no inputs) or TEXT2TEXT (text or algorithmic pairs)."""
    if isinstance(task, Text2ClassProblem):
        return TEXT2CLASS
    if isinstance(task, Text2SelfProblem):
        return TEXT2SELF
    return TEXT2TEXT


class MultiProblem(Text2TextProblem):
    """Several problems as one: a shared SentencePiece vocabulary and a task tag on inputs.

    See the module docstring. `task_list`: Problem instances or registered names.
    """

    task_list = ()
    vocab_type = VocabType.SUBWORD    # always one SentencePiece model shared by every task
    approx_vocab_size = 8000
    max_samples_for_vocab = 200_000   # text lines, from all tasks together

    def __init__(self, was_reversed=False, task_list=None, name=None):
        if was_reversed:
            raise UserError(f"a multi-problem ({name or registry.default_name(type(self))}) "
                            "cannot be reversed as a whole: its task tag goes on the inputs. "
                            "Reverse its tasks instead, e.g. "
                            "--problem=translate_ende_multi30k_rev+translate_enfr_multi30k_rev.")
        super().__init__(was_reversed=False)
        self.task_list = list(type(self).task_list if task_list is None else task_list)
        self._name = name
        self._sizes = {}

    # -- names and tasks -------------------------------------------------------------
    @property
    def base_name(self):
        return self._name or super().base_name

    def dataset_filename(self):
        return file_safe_name(self.base_name)

    @property
    def tasks(self):
        """The task Problems, names resolved and nested multi-problems flattened."""
        self.task_list[:] = [registry.problem(t) if isinstance(t, str) else t
                             for t in self.task_list]
        tasks = []
        for task in self.task_list:
            if isinstance(task, MultiProblem):
                tasks += task.tasks
            elif isinstance(task, Problem):
                tasks.append(task)
            else:
                raise UserError(f"multi-problem {self.name}: task_list holds Problem instances "
                                f"or registered names; got {task!r}.")
        if not tasks:
            raise UserError(f"multi-problem {self.name} has no tasks; set task_list (Problem "
                            "instances or registered names) or join names with '+'.")
        names = [t.name for t in tasks]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise UserError(f"multi-problem {self.name}: task {', '.join(repeated)} appears "
                            "more than once; each task may appear once.")
        for t in tasks:
            if t.was_reversed and task_kind(t) != TEXT2TEXT:
                raise UserError(f"multi-problem {self.name}: task {t.name} cannot be reversed "
                                f"(a {task_kind(t)} problem has no text inputs and targets to "
                                "swap); drop the _rev.")
        return tasks

    @property
    def num_tasks(self):
        return len(self.tasks)

    @property
    def task_names(self):
        return [t.name for t in self.tasks]

    def task_index(self, task):
        """The index of `task`: an index or a task name."""
        names = self.task_names
        if isinstance(task, int) and not isinstance(task, bool) and 0 <= task < len(names):
            return task
        if isinstance(task, str) and task in names:
            return names.index(task)
        hint = did_you_mean(task, names) if isinstance(task, str) else ""
        raise UserError(f"multi-problem {self.name} has no task {task!r}.{hint} Its tasks: "
                        + ", ".join(f"{i} = {n}" for i, n in enumerate(names)) + ".")

    def task_filename(self, index):
        """The file prefix of task `index`'s shards."""
        task = self.tasks[index]
        rev = registry.REVERSED_SUFFIX if task.was_reversed else ""
        return f"{self.dataset_filename()}_task{index}_{task.dataset_filename()}{rev}"

    # -- vocabulary and encoders -----------------------------------------------------
    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        raise UserError(f"multi-problem {self.name} has no samples of its own; its tasks "
                        f"({', '.join(self.task_names)}) generate them.")

    def generate_text_for_vocab(self, data_dir, tmp_dir):
        """Every task's training text, interleaved line by line, max_samples_for_vocab lines."""
        streams = [_text_for_vocab(t, data_dir, tmp_dir) for t in self.tasks]
        return itertools.islice(_round_robin(streams), self.max_samples_for_vocab)

    def get_or_create_vocab(self, data_dir, tmp_dir, force_get=False):
        base = super().get_or_create_vocab(data_dir, tmp_dir, force_get)
        return TaskTagEncoder(base, self.task_names)

    def task_feature_encoders(self, index, data_dir=None):
        """Task `index`'s encoders: the shared one, and a ClassLabelEncoder for the targets
        of a Text2ClassProblem task."""
        encoders = dict(self.get_feature_encoders(data_dir))
        task = self.tasks[index]
        if task_kind(task) == TEXT2CLASS:
            encoders["targets"] = text_encoder.ClassLabelEncoder(task.class_labels(data_dir))
        return encoders

    def hparams(self, defaults, model_hparams):
        """The shared vocabulary's "symbol" inputs and targets (what a model that ignores
        tasks, e.g. a plain Transformer, reads), plus, for models with a modality per task
        (MultiModel), `num_tasks` and one entry per task, in task order, shaped like
        `modality` / `vocab_size`:

            task_modality  = [{"inputs": "symbol", "targets": "symbol"},
                              {"inputs": "symbol", "targets": "class_label"}, ...]
            task_vocab_size = [{"inputs": V + N, "targets": V + N},
                               {"inputs": V + N, "targets": num_classes}, ...]

        (a Text2ClassProblem task's targets are its class label; see
        task_target_modality)."""
        super().hparams(defaults, model_hparams)
        inputs = (defaults.modality["inputs"], defaults.vocab_size["inputs"])
        targets = [self.task_target_modality(i) for i in range(self.num_tasks)]
        defaults.add_hparam("num_tasks", self.num_tasks)
        defaults.add_hparam("task_modality", [{"inputs": inputs[0], "targets": name}
                                              for name, _ in targets])
        defaults.add_hparam("task_vocab_size", [{"inputs": inputs[1], "targets": size}
                                                for _, size in targets])

    def task_target_modality(self, index, data_dir=None):
        """(modality name, vocab size) of task `index`'s targets."""
        task = self.tasks[index]
        if task_kind(task) == TEXT2CLASS:
            return "class_label", task.num_classes
        return "symbol", self.get_feature_encoders(data_dir)["targets"].vocab_size

    def eval_metrics(self):
        """Every task's metrics, each named once, in task order."""
        return list(dict.fromkeys(m for i in range(self.num_tasks)
                                  for m in self.task_eval_metrics(i)))

    def task_eval_metrics(self, index):
        return self.tasks[index].eval_metrics()

    # -- generation ------------------------------------------------------------------
    def generate_data(self, data_dir, tmp_dir, task_id=-1):
        """The shared vocabulary, then every task's splits (only task `task_id` if >= 0)."""
        tasks = self.tasks
        indices = range(len(tasks)) if task_id < 0 else [self.task_index(task_id)]
        for i in indices:   # every missing source file first, in one error per task
            fetch = getattr(tasks[i], "fetch_source_files", None)
            if fetch is not None:
                fetch(tmp_dir)
        encoder = self.get_or_create_vocab(data_dir, tmp_dir)
        for i in indices:
            self._generate_task(i, data_dir, tmp_dir, encoder)
        self._sizes.pop(os.path.abspath(data_dir), None)

    def _generate_task(self, index, data_dir, tmp_dir, encoder):
        task = self.tasks[index]
        logging.info("multi-problem %s: task %d = %s", self.name, index, task.name)
        paths = {s["split"]: generator_utils.shard_filepaths(
                     data_dir, self.task_filename(index), s["split"], s["shards"])
                 for s in task.dataset_splits}   # every task's own splits and shards
        if task.is_generate_per_split:
            for split, split_paths in paths.items():
                samples = self._encoded_samples(index, encoder, data_dir, tmp_dir, split)
                generator_utils.generate_files(samples, split_paths,
                                               shuffle=split == DatasetSplit.TRAIN)
        else:   # one training stream cut round-robin into every split's shards
            all_paths = list(itertools.chain.from_iterable(paths.values()))
            samples = self._encoded_samples(index, encoder, data_dir, tmp_dir,
                                            DatasetSplit.TRAIN)
            generator_utils.generate_files(samples, all_paths, shuffle=True)

    def _encoded_samples(self, index, encoder, data_dir, tmp_dir, split):
        """Task `index`'s samples of `split`: inputs [tag] + ids + [EOS], task_id [index]."""
        task = self.tasks[index]
        kind = task_kind(task)
        tag, eos, base = encoder.tag_id(index), text_encoder.EOS_ID, encoder.base
        for sample in task.generate_samples(data_dir, tmp_dir, split):
            if task.was_reversed:
                sample = _swapped(sample)
            inputs = [] if kind == TEXT2SELF else base.encode(_text(task, sample, "inputs"))
            if kind == TEXT2CLASS:
                targets = [task._label(sample)]
            else:
                targets = base.encode(_text(task, sample, "targets")) + [eos]
            yield {"inputs": [tag] + inputs + [eos], "targets": targets, "task_id": [index]}

    # -- reading ---------------------------------------------------------------------
    def example_reading_spec(self):
        import tensorflow as tf
        data_fields = {"inputs": tf.io.VarLenFeature(tf.int64),
                       "targets": tf.io.VarLenFeature(tf.int64),
                       "task_id": tf.io.FixedLenFeature([1], tf.int64)}
        return data_fields, None

    def data_files(self, data_dir, mode_or_split):
        """Every task's shards of a split; a task without them raises the usual message
        (which names the t2t-datagen command of this multi-problem)."""
        return [f for i in range(self.num_tasks)
                for f in self.task_data(i).data_files(data_dir, mode_or_split)]

    def task_data(self, task):
        """A Problem reading task `task`'s shards (index or name) through Problem.dataset."""
        return multi_problem_data.TaskData(self, self.task_index(task))

    def dataset(self, mode, data_dir, config=None, shuffle=None, repeat=None, batched=True,
                seed=None, max_records=-1, shard=None, split=None, task=None, mixture=None):
        """Problem.dataset's examples, of one task (`task`: index or name) or of all.

        `config`: the InputConfig (`problem.input_config(hparams)`). Without `task`: TRAIN
        mode samples each (per-task) batch from task i with probability
        mixture.weights[i] / sum(mixture.weights), read live (`mixture`: a TaskMixture;
        None: a fixed uniform one); other modes read the tasks one after another.
        `max_records` and `shard` apply to each task (see multi_problem_data.py).
        """
        return multi_problem_data.dataset(
            self, mode, data_dir, config, shuffle=shuffle, repeat=repeat, batched=batched,
            seed=seed, max_records=max_records, shard=shard, split=split, task=task,
            mixture=mixture)

    def task_sizes(self, data_dir):
        """The number of training examples of each task (counted once per data_dir)."""
        key = os.path.abspath(data_dir)
        if key not in self._sizes:
            import tensorflow as tf
            self._sizes[key] = [
                int(tf.data.TFRecordDataset(self.task_data(i).data_files(
                    data_dir, DatasetSplit.TRAIN)).reduce(tf.constant(0, tf.int64),
                                                          lambda n, _: n + 1))
                for i in range(self.num_tasks)]
        return list(self._sizes[key])


def _text_for_vocab(task, data_dir, tmp_dir):
    """A task's training text for the vocabulary (its own generate_text_for_vocab when it
    has one, else the inputs and targets of its training samples)."""
    if hasattr(task, "generate_text_for_vocab"):
        yield from task.generate_text_for_vocab(data_dir, tmp_dir)
        return
    for sample in task.generate_samples(data_dir, tmp_dir, DatasetSplit.TRAIN):
        for key in ("inputs", "targets"):
            if key in sample:
                yield _text(task, sample, key)


def _round_robin(iterables):
    iterators = [iter(i) for i in iterables]
    while iterators:
        alive = []
        for it in iterators:
            try:
                yield next(it)
            except StopIteration:
                continue
            alive.append(it)
        iterators = alive


def _swapped(sample):
    sample = dict(sample)
    sample["inputs"], sample["targets"] = sample.get("targets"), sample.get("inputs")
    return sample


def _text(task, sample, key):
    value = sample.get(key) if isinstance(sample, dict) else None
    if not isinstance(value, str):
        got = f"keys {sorted(sample)}" if isinstance(sample, dict) else type(sample).__name__
        raise UserError(f"problem {task.name}: generate_samples must yield dicts with a str "
                        f"{key!r}; got {got}" + (f" with {key!r} = {value!r}" if value is not
                                                 None else "") + ".")
    return value


def _compose(name, tasks):
    """The registry's factory for '+'-joined names."""
    problem = MultiProblem(task_list=tasks, name=name)
    problem.tasks   # checks the tasks now (repeats, reversed classifiers)
    return problem


registry.problems.register_composer(
    _compose, "NAME+NAME[+...]  one multi-task problem of those problems (shared "
              "vocabulary, a task tag on the inputs; see data_generators/multi_problem.py)")
