"""MultiModel (T2T's name): one shared Transformer body with a target modality per task, so
problems with different outputs (text-to-text, text-to-class) train together.

Problem hparams come from a MultiProblem (data_generators/multi_problem.py): besides the
shared vocabulary's `modality` / `vocab_size`, it publishes `num_tasks` and, per task,
`task_modality[i]` / `task_vocab_size[i]` ({"inputs": ..., "targets": ...}). A problem
without them is one task, so `--model=multimodel` also trains a single problem.

What is shared. Every task's inputs are ids of the MultiProblem's one vocabulary, with the
task's tag first, so one input modality embeds them all (the tag tells the tasks apart).
The encoder and the decoder are shared. Each task's targets go through a target modality,
its *head*: a "symbol" head (the decoder, then a softmax over the vocabulary) or a
"class_label" head (the encoder output mean-pooled over the real input positions, as the
Transformer's encoder-only path, then the class-label top). With
`multimodel_share_targets` (default True) tasks whose targets have the same modality and
vocabulary share one head, as T2T's modalities were shared by name: every text task of a
MultiProblem then uses one softmax over the shared vocabulary. False gives each task its
own head.

Task selection in graph mode. A MultiProblem batch holds one task, so the batch's head is
that of its first row's task: `task_id[0, 0]` when the features have it, else the tag in
`inputs[0, 0]` (task i's tag is id vocab_size["inputs"] - num_tasks + i). `call`,
`training_loss` and `infer` run `tf.switch_case` over the heads (a plain call when there is
one): one traced train step serves every task, and only the chosen branch runs. Every
layer is built eagerly in `__init__`, so no variable is created inside a branch.

Logits. Heads differ in width (the vocabulary, the number of classes) and in length (the
targets' length, 1), so `call` returns logits [batch, length, vocab_size] with vocab_size
the widest head's; a narrower head's logits are padded with the dtype's lowest value,
which argmax and (log-)softmax ignore, so the trainer's metrics read them as they are.
`training_loss` gives each head's loss only its own width.

`target_modality` is a TaskTargetModality: the heads, and `targets_weights(targets)` that
is right for every task of a MultiProblem without knowing the task (see there).

Decoding (`infer`) picks the head as `call` does, for a batch whose rows share a head: a
class head returns the argmax class ([batch, 1], as T2TModel does for a classifier); a text
head decodes greedily or with beam search using the Transformer's cached incremental
decoding (one decoder step per token, as fast as the Transformer).
"""
import functools

import keras
import tensorflow as tf

from t2tlike import registry
from t2tlike.decoding import search
from t2tlike.errors import UserError
from t2tlike.layers.modalities import ClassLabelModality, ModalityType
from t2tlike.layers.positional import add_timing_signal, timing_signal
from t2tlike.models.transformer import Transformer, masked_mean, transformer_base
from t2tlike.t2t_model import EXAMPLE_WEIGHTS, shift_right

TARGET_MODALITIES = (ModalityType.SYMBOL, ModalityType.CLASS_LABEL)


def task_targets(problem_hparams):
    """[(targets modality name, vocab size)] of each task, checked: one entry for a
    problem without `task_modality`."""
    if "task_modality" not in problem_hparams:
        return [(problem_hparams.modality["targets"], problem_hparams.vocab_size["targets"])]
    modalities, sizes = problem_hparams.task_modality, problem_hparams.task_vocab_size
    inputs = (problem_hparams.modality.get("inputs"), problem_hparams.vocab_size.get("inputs"))
    if not (len(modalities) == len(sizes) == problem_hparams.num_tasks):
        raise UserError(f"problem hparams: num_tasks is {problem_hparams.num_tasks} but "
                        f"task_modality has {len(modalities)} entries and task_vocab_size "
                        f"{len(sizes)}; the problem's hparams must give one per task.")
    tasks = []
    for i, (modality, size) in enumerate(zip(modalities, sizes)):
        if (modality.get("inputs"), size.get("inputs")) != inputs:
            raise UserError(f"multimodel reads every task's inputs with the problem's one "
                            f"inputs modality {inputs}; task {i} has "
                            f"{(modality.get('inputs'), size.get('inputs'))}.")
        if modality["targets"] not in TARGET_MODALITIES:
            raise UserError(f"multimodel supports {' and '.join(TARGET_MODALITIES)} targets "
                            f"(one int 'targets' feature carries every task's); task {i} has "
                            f"{modality['targets']!r}.")
        tasks.append((modality["targets"], size["targets"]))
    return tasks


def pad_vocab(logits, width):
    """logits [batch, length, vocab] -> [batch, length, width], the new entries the dtype's
    lowest value (probability 0 after a softmax; never an argmax)."""
    missing = width - logits.shape[-1]
    if missing == 0:
        return logits
    return tf.pad(logits, [[0, 0], [0, 0], [0, missing]], constant_values=logits.dtype.min)


class TaskTargetModality(keras.layers.Layer):
    """A MultiModel's targets side: its heads (one target modality each) and which head
    each task uses.

    `loss` takes the head's index; `vocab_size` is the widest head's, the width of the
    model's (padded) logits. `targets_weights(targets)` needs no task: for a MultiProblem
    every [batch, 1] targets are weighted 1 (class labels, where 0 is a class; a width-1
    text batch is all EOS, nonzero anyway), wider ones `targets != 0` (text, 0 = pad).
    """

    def __init__(self, heads, task_heads, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = len(heads)
        for i, head in enumerate(heads):   # one attribute each, so tf.train.Checkpoint tracks them
            setattr(self, f"head_{i}", head)
        self.task_heads = list(task_heads)
        self.vocab_size = max(h.vocab_size for h in heads)

    @property
    def heads(self):
        return [getattr(self, f"head_{i}") for i in range(self.num_heads)]

    def build(self, input_shape=None):
        """Builds every head for the body's output (no weights of its own)."""
        for head in self.heads:
            if not head.built:
                head.build(input_shape)
        self.built = True

    def is_class_label(self, head):
        return isinstance(self.heads[head], ClassLabelModality)

    def loss(self, logits, targets, head, example_weights=None):
        """(loss sum, weight sum) of head `head` on its own part of the padded logits."""
        modality = self.heads[head]
        return modality.loss(logits[..., :modality.vocab_size], targets, example_weights)

    def targets_weights(self, targets):
        """targets [batch, length] -> weights [batch, length] float (see the class doc)."""
        nonzero = tf.cast(tf.not_equal(targets, 0), tf.float32)
        kinds = {self.is_class_label(h) for h in range(self.num_heads)}
        if kinds == {False}:
            return nonzero
        ones = tf.ones_like(nonzero)
        if kinds == {True}:
            return ones
        return tf.where(tf.equal(tf.shape(targets)[1], 1), ones, nonzero)


@registry.register_model("multimodel")
class MultiModel(Transformer):
    """The Transformer's encoder and decoder shared by every task, a head per task; see the
    module docstring."""

    def __init__(self, hparams, problem_hparams, **kwargs):
        super().__init__(hparams, problem_hparams, **kwargs)
        if not self.has_inputs:
            raise UserError("multimodel needs inputs (a MultiProblem's carry the task tag); "
                            "for a language model use --model=transformer.")
        tasks = task_targets(problem_hparams)
        self.num_tasks = len(tasks)
        self.first_tag = problem_hparams.vocab_size["inputs"] - self.num_tasks
        heads, task_heads = self._make_heads(tasks, hparams, problem_hparams)
        self.target_modality = TaskTargetModality(heads, task_heads, name="task_targets",
                                                  dtype=self.dtype_policy)
        self.text_heads = tuple(h for h in range(len(heads))
                                if not self.target_modality.is_class_label(h))
        if not self.text_heads:
            self.decoder = None   # the Transformer made one for the vocabulary's targets
        with tf.init_scope():   # every head's weights now, none inside a switch branch
            self.build()
            dummy = {"inputs": tf.ones([1, 1], tf.int32), "targets": tf.ones([1, 1], tf.int32)}
            for head in range(len(heads)):
                self.head_logits(head, dummy)

    def _make_heads(self, tasks, hparams, problem_hparams):
        """(head modalities, head index of each task). A head like the problem's own targets
        is T2TModel's target modality (its softmax tied to the embedding as configured)."""
        share = hparams.multimodel_share_targets
        problem_targets = (problem_hparams.modality["targets"],
                           problem_hparams.vocab_size["targets"])
        default = self.target_modality
        heads, task_heads, by_key = [], [], {}
        for i, key in enumerate(tasks):
            if share and key in by_key:
                task_heads.append(by_key[key])
                continue
            if key == problem_targets and default is not None:
                modality, default = default, None
            else:
                name, size = key
                cls = registry.modality(name)
                extra = {"tie_softmax": hparams.shared_embedding_and_softmax_weights} \
                    if name == ModalityType.SYMBOL else {}
                modality = cls(size, hparams.hidden_size, label_smoothing=hparams.label_smoothing,
                               name=f"targets_modality_task{i}", dtype=self.dtype_policy,
                               **extra)
            by_key[key] = len(heads)
            task_heads.append(len(heads))
            heads.append(modality)
        return heads, task_heads

    # -- task selection ------------------------------------------------------------------
    def _task_heads(self):
        """[num_tasks] int32: each task's head."""
        return tf.constant(self.target_modality.task_heads, tf.int32)

    @property
    def num_heads(self):
        return self.target_modality.num_heads

    def _row_tasks(self, features):
        """[batch] int32: each row's task (task_id, else the tag on the inputs)."""
        if "task_id" in features:
            return tf.cast(features["task_id"][:, 0], tf.int32)
        return tf.cast(features["inputs"][:, 0], tf.int32) - self.first_tag

    def task_is_class_label(self, task):
        """True when task `task` (an index) has class-label targets: its outputs are a class
        id (0 and 1 are classes, not pad and EOS), decoded with the task's label encoder."""
        return self.target_modality.is_class_label(self.target_modality.task_heads[task])

    def head_index(self, features):
        """int32 scalar: the head of the batch's task (that of its first row)."""
        if self.num_heads == 1:
            return tf.constant(0, tf.int32)
        task = tf.clip_by_value(self._row_tasks(features)[0], 0, self.num_tasks - 1)
        return tf.gather(self._task_heads(), task)

    def _switch(self, features, fn):
        """fn(head) for the batch's head: tf.switch_case over the heads (graph or eager)."""
        if self.num_heads == 1:
            return fn(0)
        return tf.switch_case(self.head_index(features),
                              [functools.partial(fn, h) for h in range(self.num_heads)])

    # -- training ------------------------------------------------------------------------
    def head_logits(self, head, features, training=False):
        """Head `head`'s logits [batch, length, its own vocab] (length 1 for a class label).
        inputs [batch, in_len] ids; targets [batch, tgt_len] ids (unused by a class head)."""
        inputs = features["inputs"]
        mask = tf.cast(tf.not_equal(inputs, 0), tf.float32)              # [batch, in_len]
        memory = self.encode(self.input_modality.bottom(inputs), mask, training=training)
        modality = self.target_modality.heads[head]
        if isinstance(modality, ClassLabelModality):
            return modality.top(masked_mean(memory, mask))               # [batch, 1, classes]
        x = shift_right(modality.targets_bottom(features["targets"]))    # [batch, tgt_len, hidden]
        x = add_timing_signal(x) if self.use_timing else x
        y = self.decoder(self.input_dropout(x, training=training), memory, memory_mask=mask,
                         training=training,
                         targets_mask=tf.cast(tf.not_equal(features["targets"], 0), tf.float32))
        return modality.top(y)

    def call(self, features, training=False):
        """ids (and task_id [batch, 1]) of one task's batch -> logits [batch, length,
        target_modality.vocab_size], padded beyond the head's own width."""
        return self._switch(features, lambda h: pad_vocab(
            self.head_logits(h, features, training=training), self.target_modality.vocab_size))

    def training_loss(self, logits, features):
        """(weighted loss sum, weight sum) of the batch's head."""
        return self._switch(features, lambda h: self.target_modality.loss(
            logits, features["targets"], h, features.get(EXAMPLE_WEIGHTS)))

    # -- decoding ------------------------------------------------------------------------
    def decoding_step_fn(self, features, num_samples, decode_length, head=None):
        """The Transformer's cached incremental decoding with text head `head` (default:
        the only text head)."""
        if head is None:
            if len(self.text_heads) != 1:
                raise ValueError(f"{self.name} has text heads {self.text_heads}; name one.")
            head = self.text_heads[0]
        modality = self.target_modality.heads[head]
        inputs = features["inputs"]
        mask = tf.cast(tf.not_equal(inputs, 0), tf.float32)
        memory = self.encode(self.input_modality.bottom(inputs), mask)
        context = {"memory_kv": self.decoder.memory_keys_values(memory), "mask": mask}
        cache = self.decoder.init_cache(num_samples)
        signal = timing_signal(decode_length, self.hidden_size)[0]
        top = modality.decoding_top()
        kernels = self.decoder.step_kernels()

        def step_fn(prev_ids, i, cache, context):
            x = modality.targets_bottom(prev_ids[:, tf.newaxis])[:, 0]       # [n, hidden]
            if self.use_timing:
                x += tf.cast(signal[i], x.dtype)[tf.newaxis]
            y, cache = self.decoder.step(x, cache, context["memory_kv"],
                                         memory_mask=context["mask"], kernels=kernels)
            return top(y), cache

        return step_fn, cache, context

    def infer(self, features, beam_size=1, alpha=0.6, extra_length=50, return_beams=False,
              early_stopping=False):
        """T2TModel.infer for a batch whose rows' tasks share a head (checked): a class
        head gives outputs [batch, 1] (the argmax class) and scores [batch] (its log-prob);
        a text head decodes (greedy, or beam search with beam_size > 1). With return_beams
        a beam axis follows the batch axis. Without task_id every input must start with a
        task tag."""
        self._check_decode_batch(features)
        decode = functools.partial(self._infer_head, features=features, beam_size=beam_size,
                                   alpha=alpha, extra_length=extra_length,
                                   return_beams=return_beams, early_stopping=early_stopping)
        return self._switch(features, decode)

    def _check_decode_batch(self, features):
        if self.num_tasks == 1:
            return
        tasks = self._row_tasks(features)
        tags = f"ids {self.first_tag}..{self.first_tag + self.num_tasks - 1}"
        tf.debugging.assert_equal(
            tf.reduce_all((tasks >= 0) & (tasks < self.num_tasks)), True,
            message=f"multimodel: every input must start with a task tag (<task:NAME>, {tags})"
                    " or the features must carry task_id.")
        heads = tf.gather(self._task_heads(), tf.clip_by_value(tasks, 0, self.num_tasks - 1))
        groups = {}
        for task, head in enumerate(self.target_modality.task_heads):
            groups.setdefault(head, []).append(task)
        tf.debugging.assert_equal(
            tf.reduce_all(tf.equal(heads, heads[0])), True,
            message="multimodel decodes a batch with one head: put tasks of different heads "
                    "(tasks by head: " + "; ".join(map(str, groups.values())) + ") in "
                    "separate batches.")

    def _infer_head(self, head, features, beam_size, alpha, extra_length, return_beams,
                    early_stopping):
        """infer with head `head` (decoding/search.py): the argmax class of a class head;
        greedy or beam search with a text head's cached decoding."""
        if self.target_modality.is_class_label(head):
            inputs = features["inputs"]
            feats = {"inputs": inputs, "targets": tf.zeros([tf.shape(inputs)[0], 1], tf.int32)}
            return search.classify(self.head_logits(head, feats)[:, 0], return_beams)
        return search.decode(functools.partial(self.decoding_step_fn, head=head), features,
                             beam_size=beam_size, alpha=alpha, extra_length=extra_length,
                             return_beams=return_beams, early_stopping=early_stopping)


@registry.register_hparams
def multimodel_base():
    """transformer_base's body and training settings; tasks with the same targets modality
    and vocabulary share one head (`multimodel_share_targets`)."""
    return transformer_base().extend(multimodel_share_targets=True)


@registry.register_hparams
def multimodel_tiny():
    """multimodel_base at transformer_tiny's size (2+2 layers, 128 hidden, 512 filter, 4
    heads): for toy problems and tests."""
    return multimodel_base().replace(num_hidden_layers=2, hidden_size=128, filter_size=512,
                                     num_heads=4)
