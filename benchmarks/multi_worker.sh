#!/usr/bin/env bash
# Benchmark: what the multi-worker path costs on one machine, on the reference
# configuration (transformer_small, 3+3 layers, batch_size 4096 per replica, Multi30k
# en->de): one process with one CPU thread, two local workers (--local_workers=2, one
# thread each, ring all-reduce over gRPC on 127.0.0.1), and one process with two
# threads; then the gradient all-reduce alone and the cluster table
# (benchmarks/allreduce_scaling.py, its CPU worker at the two-thread rate measured
# here). Figures: docs/distributed.md ("What it costs").
#
#   bash benchmarks/multi_worker.sh
#
# Env: MULTI30K (the corpus folder, default ../shared/data/multi30k), WORK, STEPS (per
# run, default 25; the rate is the progress line's, the first step excluded).
# Nothing else heavy should run meanwhile.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK=${WORK:-/tmp/t2t_multi30k}
MULTI30K=${MULTI30K:-$HERE/../shared/data/multi30k}
STEPS=${STEPS:-25}
DATA=$WORK/data
OUT=$WORK/runs/multi_worker
[ -f "$MULTI30K/train.en.gz" ] || { echo "no Multi30k files in $MULTI30K (set MULTI30K=...)" >&2; exit 2; }
t2t-datagen --problem=translate_ende_multi30k --data_dir="$DATA" --tmp_dir="$MULTI30K"
train() {   # NAME FLAGS...: one run from scratch; prints its last progress line
  local name=$1; shift
  rm -rf "$OUT/$name"
  t2t-trainer --problem=translate_ende_multi30k --model=transformer \
    --hparams_set=transformer_small --hparams=num_hidden_layers=3,batch_size=4096 \
    --data_dir="$DATA" --output_dir="$OUT/$name" --train_steps="$STEPS" --eval_steps=0 \
    --log_step_count_steps=5 --save_checkpoints_secs=0 --random_seed=1 "$@" \
    2> "$OUT/$name.log" || { tail -20 "$OUT/$name.log" >&2; exit 1; }
  echo "$name: $(grep -o "step $STEPS/$STEPS .*tokens/s" "$OUT/$name.log" | tail -1)"
}
mkdir -p "$OUT"
train one_process_1_thread --intra_op_parallelism_threads=1 --inter_op_parallelism_threads=1
train two_workers_1_thread_each --local_workers=2
train one_process_2_threads --intra_op_parallelism_threads=2 --inter_op_parallelism_threads=2
# the cluster table's CPU worker: this machine's 2-thread rate on the reference model
RATE=$(grep -o "step $STEPS/$STEPS .* \([0-9]*\) tokens/s" "$OUT/one_process_2_threads.log" \
  | tail -1 | grep -o "[0-9]* tokens/s" | grep -o "[0-9]*")
python "$HERE/benchmarks/allreduce_scaling.py" --data_dir="$DATA" \
  --cpu_tokens_per_sec="$RATE" --json_out="$OUT/allreduce.json"
