"""basic_params1: the keys every model and the trainer share (T2T's names and meanings).

A model family's root set derives from it in one step and adds the keys only that family
reads (`basic_params1().extend(pos="timing").replace(hidden_size=512)`); every key a
model or the trainer reads is defined in the set, so nothing probes for a missing key.
"""
from t2tlike import registry
from t2tlike.hparams import HParams


@registry.register_hparams
def basic_params1():
    """Defaults shared by all models; values follow T2T's common_hparams where it has them."""
    return HParams(
        # input pipeline: batch_size counts tokens; max_length 0 means batch_size
        batch_size=4096, max_length=0, min_length_bucket=8, length_bucket_step=1.1,
        eval_drop_long_sequences=False,
        # model size
        hidden_size=64, filter_size=256, num_hidden_layers=2, num_heads=4,
        dropout=0.2, layer_prepostprocess_dropout=0.1, attention_dropout=0.1, relu_dropout=0.1,
        shared_embedding_and_softmax_weights=False, shared_embedding=False,
        # loss
        label_smoothing=0.1,
        # optimizer
        optimizer="adam", optimizer_adam_beta1=0.85, optimizer_adam_beta2=0.997,
        optimizer_adam_epsilon=1e-6, optimizer_momentum_momentum=0.9,
        optimizer_momentum_nesterov=False, optimizer_adafactor_decay_rate=0.8,
        weight_decay=0.0, clip_grad_norm=2.0,
        # a step whose loss or gradients are not finite (NaN, Inf) is skipped; this many in
        # a row stop the run, its checkpoints kept (0: never stop)
        max_consecutive_skipped_steps=20,
        # gradient accumulation: update once every N batches (0 or 1: every batch); see
        # t2tlike/training/optimizers.py
        optimizer_multistep_accumulate_steps=0,
        # the batch of one weight update, kept whatever the replicas: > 0 sets the
        # accumulation to effective_batch_tokens / (batch_size x replicas), which must be a
        # whole number (t2tlike/training/distribute.py); 0: batch_size x replicas
        effective_batch_tokens=0,
        # compute precision: auto | none | bfloat16 | float16 (t2tlike/precision.py)
        mixed_precision="auto",
        # learning rate: T2T's factor string, see t2tlike/training/learning_rate.py
        learning_rate_schedule="constant*linear_warmup*rsqrt_decay",
        learning_rate_constant=0.1, learning_rate_warmup_steps=100,
        learning_rate_decay_steps=5000, learning_rate_decay_rate=1.0,
        # eval: problems whose eval_metrics include "bleu" greedy-decode this many dev
        # examples at each evaluation and score them with sacreBLEU (0: skip)
        eval_bleu_samples=256,
        # multi-task training (a MultiProblem): how batches are drawn from the tasks; see
        # t2tlike/training/task_schedules.py for each schedule and t2tlike/training/
        # multitask.py for the dev score the adaptive ones use
        multiproblem_schedule="proportional", multiproblem_temperature=5.0,
        multiproblem_schedule_threshold=0.5, multiproblem_schedule_max_steps=0,
        multiproblem_adaptive_alpha=1.0, multiproblem_adaptive_kind="inverse",
        multiproblem_adaptive_eps=0.01, multiproblem_adaptive_baselines=[],
        multiproblem_adaptive_warmup="temperature", multiproblem_adaptive_floor=0.2,
        multiproblem_adaptive_smoothing=0.5,
        # "batch": every training batch holds one task; "example": a task drawn per
        # example, so a batch mixes tasks (data_generators/multi_problem.py); "auto":
        # "batch" for a model with a target head per task (a MultiModel), else "example"
        multiproblem_mixing="auto",
    )
