"""The report of benchmarks/multitask_multi30k.sh: reads RUNS_DIR/*/train.log and
RUNS_DIR/*/summary.txt and writes

  RUNS_DIR/dev_bleu.tsv      run, task, step, dev BLEU (every evaluation of every run)
  RUNS_DIR/summary.md        the test BLEU table (each task decoded from its best dev step)
  RUNS_DIR/dev_bleu.png      dev BLEU vs updates, one panel per task, one line per run
                             (needs matplotlib: pip install matplotlib; skipped without it)

    python benchmarks/multitask_report.py /tmp/t2t_multitask/runs
"""
import os
import re
import sys

EVAL = re.compile(r"eval at step (\d+): (.*)")
BLEU = re.compile(r"(\w+)/bleu = ([0-9.]+)")
TEST = re.compile(r"^(\S+) (\w+) best dev step (\d+) test BLEU: (.*)$")


def dev_curves(log_path):
    """{task: [(step, dev BLEU)]} from one train.log."""
    curves = {}
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            m = EVAL.search(line)
            if m:
                for task, value in BLEU.findall(m.group(2)):
                    curves.setdefault(task, []).append((int(m.group(1)), float(value)))
    return curves


def test_scores(summary_path):
    """{task: (best dev step, sacreBLEU line)} from one summary.txt."""
    out = {}
    with open(summary_path, encoding="utf-8") as f:
        for line in f:
            m = TEST.match(line.strip())
            if m:
                out[m.group(2)] = (int(m.group(3)), m.group(4))
    return out


def bleu_value(line):
    m = re.search(r"= ([0-9.]+)", line)
    return float(m.group(1)) if m else float("nan")


def main(runs_dir):
    runs = sorted(d for d in os.listdir(runs_dir)
                  if os.path.exists(os.path.join(runs_dir, d, "train.log")))
    curves = {r: dev_curves(os.path.join(runs_dir, r, "train.log")) for r in runs}
    tested = {}   # the tasks each run trained on (decoded for test): only those are plotted
    for r in runs:
        path = os.path.join(runs_dir, r, "summary.txt")
        tested[r] = test_scores(path) if os.path.exists(path) else {}
    with open(os.path.join(runs_dir, "dev_bleu.tsv"), "w", encoding="utf-8") as f:
        f.write("run\ttask\tstep\tdev_bleu\n")
        for r in runs:
            for task, points in sorted(curves[r].items()):
                for step, value in points:
                    f.write(f"{r}\t{task}\t{step}\t{value}\n")
    tasks = sorted({t for c in curves.values() for t in c})
    lines = ["| run | " + " | ".join(f"{t} test BLEU (best dev step)" for t in tasks) + " |",
             "|---|" + "---|" * len(tasks)]
    for r in runs:
        scores = tested[r]
        cells = [f"{bleu_value(scores[t][1]):.2f} ({scores[t][0]})" if t in scores else "-"
                 for t in tasks]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(runs_dir, "summary.md"), "w", encoding="utf-8") as f:
        f.write(table)
    print(table)
    plot({r: {t: c for t, c in curves[r].items() if not tested[r] or t in tested[r]}
          for r in runs}, tasks, os.path.join(runs_dir, "dev_bleu.png"))


def plot(curves, tasks, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install matplotlib): no plot written.")
        return
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for run, c in sorted(curves.items()):
            if task in c:
                steps, values = zip(*c[task])
                ax.plot(steps, values, marker="o", markersize=3, label=run)
        ax.set_title(f"{task}: dev BLEU (greedy, 200 sentences)")
        ax.set_xlabel("updates")
        ax.set_ylabel("BLEU")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
