"""Benchmark: what synchronous multi-worker training pays for its gradient all-reduce,
measured on this machine and modelled for clusters (docs/distributed.md).

Measured: two workers on 127.0.0.1 (started by this script, one CPU thread each, a
TF_CONFIG each; MultiWorkerMirroredStrategy, ring all-reduce over gRPC) all-reduce each
model's gradients, a list of tensors shaped like its trainable variables, as the train
step does, --repeats times (median), and a 4-byte tensor (the latency of one all-reduce).

On paper: a ring all-reduce of S bytes over N workers sends 2 (N-1)/N x S bytes through
each worker's link in 2 (N-1) hops, so one update costs

    t(N) = 2 (N-1)/N x S / B + 2 (N-1) x h

(B: the link's bandwidth, or the rate the collective implementation reaches, whichever is
lower; h: one hop's latency). Without overlap (the gradients are all-reduced after the
backward pass), communication stays under 10% of a step when the compute of one step
takes at least 9 t(N), i.e. a worker's batch of at least 9 t(N) x its tokens/s.

  python benchmarks/allreduce_scaling.py --data_dir=/tmp/t2t_multi30k/data \\
      --cpu_tokens_per_sec=1132
"""
import json
import os
import statistics
import subprocess
import sys
import time

from absl import app, flags

flags.DEFINE_string("problem", "translate_ende_multi30k", "registered problem (its vocabulary)")
flags.DEFINE_string("data_dir", None, "generated data of --problem (for its vocabulary)")
flags.DEFINE_list("models", ["reference=transformer_small:num_hidden_layers=3",
                             "transformer_base=transformer_base@32768"],
                  "LABEL=HPARAMS_SET[:OVERRIDES][@VOCAB]: the models to all-reduce (VOCAB "
                  "replaces the problem's vocabulary size, e.g. a WMT 32k vocabulary)")
flags.DEFINE_integer("repeats", 10, "timed all-reduces per model (after one warm-up)")
flags.DEFINE_list("link_gbits", ["10", "25", "100"], "link bandwidths of the table, Gbit/s")
flags.DEFINE_list("workers", ["2", "4", "8", "16", "32", "64"], "workers of the table")
flags.DEFINE_float("hop_latency_us", 50.0, "one ring hop's latency on a cluster network, "
                   "microseconds (assumed; the loopback figure is measured)")
flags.DEFINE_float("cpu_tokens_per_sec", 1132.0, "target tokens/s of one CPU worker on the "
                   "reference model (t2t-benchmark's reference line on this machine)")
flags.DEFINE_float("gpu_tokens_per_sec", 7800.0, "target tokens/s of one GPU worker on "
                   "transformer_base (Vaswani et al. 2017: 0.4 s per step of ~25,000 target "
                   "tokens on 8 P100s)")
flags.DEFINE_string("json_out", "", "also write the measurements here")
FLAGS = flags.FLAGS


def _models():
    """[(label, hparams_set, overrides, vocab or None)] from --models."""
    out = []
    for item in FLAGS.models:
        label, spec = item.split("=", 1)
        spec, _, vocab = spec.partition("@")
        hparams_set, _, overrides = spec.partition(":")
        out.append((label, hparams_set, overrides, int(vocab) if vocab else None))
    return out


def _worker():
    """One of the two workers: times the all-reduces, prints a JSON line (worker 0)."""
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from t2tlike.training import distribute
    strategy = distribute.make_strategy(distribute.parse_tf_config(os.environ["TF_CONFIG"]),
                                        "ring", 600)
    from t2tlike import registry
    from t2tlike.hparams import create_hparams
    from t2tlike.t2t_model import build_model
    import t2tlike.models  # noqa: F401
    import data_generators.all_problems  # noqa: F401
    problem = registry.problem(FLAGS.problem)

    def all_reduce(tensors):
        @tf.function
        def reduce():
            def replica():
                return tf.distribute.get_replica_context().all_reduce(
                    tf.distribute.ReduceOp.SUM, tensors)
            return strategy.run(replica)
        reduce()   # warm-up (and trace)
        times = []
        for _ in range(FLAGS.repeats):
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy(), reduce())
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    results = {"latency_s": all_reduce([tf.zeros([1])]), "models": []}
    for label, hparams_set, overrides, vocab in _models():
        hparams = create_hparams(hparams_set, overrides)
        problem_hparams = problem.get_hparams(hparams, FLAGS.data_dir)
        if vocab:
            problem_hparams = problem_hparams.replace(
                vocab_size={k: vocab for k in problem_hparams.vocab_size})
        model = build_model("transformer", hparams, problem_hparams)
        model({"inputs": tf.ones([1, 4], tf.int32), "targets": tf.ones([1, 4], tf.int32)})
        shapes = [v.shape for v in model.trainable_variables]
        params = sum(int(s.num_elements()) for s in shapes)
        seconds = all_reduce([tf.ones(s) for s in shapes])
        results["models"].append({"label": label, "hparams_set": hparams_set,
                                  "overrides": overrides, "vocab": vocab or
                                  problem_hparams.vocab_size["targets"],
                                  "params": params, "bytes": 4 * params, "seconds": seconds})
    if distribute.worker_of(strategy).is_chief:
        print("RESULTS " + json.dumps(results), flush=True)


def _measure():
    """Runs two workers of this script; returns worker 0's results."""
    from t2tlike.training import local_workers
    command = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
    procs = [subprocess.Popen(command, env=dict(os.environ, TF_CONFIG=config),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for config in local_workers.tf_configs(2)]
    outputs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        sys.exit(f"a worker failed: {[p.returncode for p in procs]}")
    line = next(l for l in outputs[0].splitlines() if l.startswith("RESULTS "))
    return json.loads(line[len("RESULTS "):])


def ring_seconds(size, workers, bandwidth, hop):
    """One ring all-reduce of `size` bytes over `workers`: bandwidth bytes/s, hop seconds."""
    return 2 * (workers - 1) / workers * size / bandwidth + 2 * (workers - 1) * hop


def main(argv):
    del argv
    if os.environ.get("TF_CONFIG"):
        return _worker()
    results = _measure()
    hop = FLAGS.hop_latency_us * 1e-6
    print(f"Measured, 2 workers on 127.0.0.1 (1 CPU thread each, ring over gRPC): one "
          f"4-byte all-reduce {results['latency_s'] * 1e3:.2f} ms\n")
    print("| model | parameters | gradient bytes | all-reduce, 2 local workers | bus rate |")
    print("|---|---|---|---|---|")
    for m in results["models"]:
        m["bus_bytes_per_s"] = m["bytes"] / m["seconds"]   # 2 (N-1)/N = 1 at N = 2
        print(f"| {m['label']} ({m['hparams_set']}, vocab {m['vocab']:,}) | "
              f"{m['params'] / 1e6:.1f} M | {m['bytes'] / 1e6:.0f} MB | "
              f"{m['seconds'] * 1e3:.0f} ms | {m['bus_bytes_per_s'] / 1e9:.2f} GB/s |")
    ceiling = max(m["bus_bytes_per_s"] for m in results["models"])
    print(f"\nOn paper (hop latency {FLAGS.hop_latency_us:.0f} us): seconds per update of "
          "the ring all-reduce; in brackets, capped at the rate the gRPC ring reached here "
          f"({ceiling / 1e9:.2f} GB/s)\n")
    workers = [int(n) for n in FLAGS.workers]
    print("| model | link | " + " | ".join(f"{n} workers" for n in workers) + " |")
    print("|---|---|" + "---|" * len(workers))
    for m in results["models"]:
        for gbits in FLAGS.link_gbits:
            link = float(gbits) * 1e9 / 8
            cells = [f"{ring_seconds(m['bytes'], n, link, hop):.3f} "
                     f"({ring_seconds(m['bytes'], n, min(link, ceiling), hop):.3f})"
                     for n in workers]
            print(f"| {m['label']} | {gbits} Gbit/s | " + " | ".join(cells) + " |")
    print("\nTarget tokens per worker per step that keep the all-reduce under 10% of a step "
          "(9 x t(N) x tokens/s), at 8 and 64 workers; in brackets for CPU workers, at the gRPC "
          "ring's rate measured here:\n")
    print("| model, worker | tokens/s | link | 8 workers | 64 workers |")
    print("|---|---|---|---|---|")
    speeds = {results["models"][0]["label"]: ("CPU (this machine, 2 cores)",
                                             FLAGS.cpu_tokens_per_sec)}
    if len(results["models"]) > 1:
        speeds[results["models"][1]["label"]] = ("GPU (P100)", FLAGS.gpu_tokens_per_sec)
    for m in results["models"]:
        if m["label"] not in speeds:
            continue
        kind, speed = speeds[m["label"]]
        for gbits in FLAGS.link_gbits:
            link = float(gbits) * 1e9 / 8
            need = [f"{9 * ring_seconds(m['bytes'], n, link, hop) * speed:,.0f}"
                    + (f" ({9 * ring_seconds(m['bytes'], n, min(link, ceiling), hop) * speed:,.0f})"
                       if kind.startswith("CPU") else "")   # GPUs all-reduce with NCCL
                    for n in (8, 64)]
            print(f"| {m['label']}, {kind} | {speed:,.0f} | {gbits} Gbit/s | "
                  f"{need[0]} | {need[1]} |")
    if FLAGS.json_out:
        with open(FLAGS.json_out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    app.run(main)
