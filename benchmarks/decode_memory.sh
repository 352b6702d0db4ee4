#!/usr/bin/env bash
# Benchmark: t2t-decoder's peak memory (RSS) on input files of growing size.
#
# Trains transformer_tiny on algorithmic_reverse_binary40 for 20 steps (the weights do not
# matter here), writes files of random binary strings (1-40 symbols) of each --lines size,
# decodes each with greedy search and reports the decoder's peak resident memory (the
# child's ru_maxrss). A streaming decoder keeps the peak flat as the
# file grows. Figures: docs/benchmarks.md ("Decoder memory").
#
#   bash benchmarks/decode_memory.sh [WORK_DIR] [LINES...]     (default: 20000 200000)
#
# PYTHON (default: python) runs the decoder, so another checkout's decoder can be measured
# (PYTHONPATH pointing at it).
set -euo pipefail
WORK=${1:-/tmp/t2t_decode_memory}
shift || true
SIZES=${*:-"20000 200000"}
PY=${PYTHON:-python}
D=$WORK/data O=$WORK/train
mkdir -p "$WORK"
t2t-datagen --problem=algorithmic_reverse_binary40 --data_dir="$D" --tmp_dir="$WORK/tmp"
[ -e "$O/checkpoint" ] || t2t-trainer --problem=algorithmic_reverse_binary40 \
  --model=transformer --hparams_set=transformer_tiny --data_dir="$D" --output_dir="$O" \
  --train_steps=20 --eval_steps=1 --random_seed=1
for n in $SIZES; do
  python - "$n" "$WORK/in_$n.txt" <<'EOF'
import random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(n)
with open(path, "w") as f:
    for _ in range(n):
        f.write(" ".join(rng.choice("01") for _ in range(rng.randint(1, 40))) + "\n")
EOF
  "$PY" - "$n" "$PY" "$D" "$O" "$WORK" <<'EOF'
import os, subprocess, sys
n, py, data_dir, out_dir, work = sys.argv[1:]
cmd = [py, "-c", "import sys; from t2tlike_cli import t2t_decoder as m; "
       "sys.argv[0] = 't2t-decoder'; m.console_main()",
       "--problem=algorithmic_reverse_binary40", "--model=transformer",
       f"--data_dir={data_dir}", f"--output_dir={out_dir}",
       "--decode_hparams=beam_size=1,batch_size=256,extra_length=5",
       f"--decode_from_file={work}/in_{n}.txt", f"--decode_to_file={work}/out_{n}.txt"]
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        cwd=work)   # not the checkout: PYTHONPATH decides what is imported
_, status, usage = os.wait4(proc.pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, f"t2t-decoder failed on {n} lines"
with open(f"{work}/out_{n}.txt") as f:
    lines = sum(1 for _ in f)
print(f"{int(n):>9,} lines: peak RSS {usage.ru_maxrss / 1024:,.0f} MB, {lines:,} lines written")
EOF
done
