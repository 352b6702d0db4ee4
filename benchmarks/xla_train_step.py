"""Benchmark: the trainer's train step with and without XLA (jit_compile) on fixed shapes.

  python benchmarks/xla_train_step.py plain
  python benchmarks/xla_train_step.py xla

Takes up to 8 batches of transformer_multi30k's train pipeline that fit 32 positions,
pads them to [n, 32] with the same n (so XLA compiles once), and reports the first step
(trace, plus compile with xla) and the median step time. Needs the data of
benchmarks/multi30k_20min.sh in /tmp/t2t_multi30k/data (or DATA_DIR). A speed figure, not
a test; see docs/benchmarks.md.
"""
import os
import sys
import tempfile
import time

import tensorflow as tf

import data_generators.all_problems  # noqa: F401
import t2tlike.models  # noqa: F401
from t2tlike import registry
from t2tlike.training import trainer as trainer_lib

LENGTH, ROWS = 32, 150


def main(mode):
    data_dir = os.environ.get("DATA_DIR", "/tmp/t2t_multi30k/data")
    hp = registry.hparams("transformer_multi30k")()
    problem = registry.problem("translate_ende_multi30k")
    trainer = trainer_lib.Trainer(problem, "transformer", hp, data_dir, tempfile.mkdtemp(),
                                  train_steps=100, eval_steps=0)
    batches = []
    for b in problem.dataset("train", data_dir, trainer.input_config, seed=1).take(40):
        if b["targets"].shape[1] <= LENGTH and b["inputs"].shape[1] <= LENGTH \
                and b["targets"].shape[0] >= ROWS:
            pad = lambda x: tf.pad(x[:ROWS], [[0, 0], [0, LENGTH - tf.shape(x)[1]]])
            batches.append({k: pad(v) for k, v in b.items()})
    batches = batches[:8]
    trainer.build(batches[0])
    step = trainer.train_step(jit_compile=(mode == "xla"))
    start = time.time()
    float(step(batches[0])[0])
    first = time.time() - start
    times = []
    for b in batches[1:] * 2:
        start = time.time()
        float(step(b)[0])
        times.append(time.time() - start)
    print(f"{mode}: {len(batches)} batches of {ROWS}x{LENGTH}, first step {first:.1f} s, "
          f"median {sorted(times)[len(times) // 2]:.3f} s/step")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "plain")
