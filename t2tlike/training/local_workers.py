"""`t2t-trainer --local_workers=N`: a multi-worker job on this machine, for trying it out
and for tests. It starts N copies of the same command, each with a TF_CONFIG that names
free ports on 127.0.0.1 and its own task, and CPU threads split among them (unless the
command sets them). Each copy's log lines are prefixed with "[worker i]" (its pid is
logged). SIGTERM and SIGINT are passed on (the workers stop together after a step, with
one checkpoint); the launcher's exit status is the first failing worker's (128 + N for a
signal N), else 0.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading

from absl import logging


def free_ports(count, host="127.0.0.1"):
    """`count` ports on `host` that are free now (the system picks them)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_configs(count, host="127.0.0.1"):
    """The TF_CONFIG text of each of `count` workers on `host`."""
    cluster = {"worker": [f"{host}:{port}" for port in free_ports(count, host)]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            for i in range(count)]


def worker_command(flags, count):
    """The command of one worker: t2t-trainer with `flags` (["--name=value", ...], without
    --local_workers) run by this Python, CPU threads split among `count` workers unless
    set."""
    args = list(flags)
    threads = max(1, (os.cpu_count() or 1) // count)
    for name in ("intra_op_parallelism_threads", "inter_op_parallelism_threads"):
        if not any(a.startswith(f"--{name}") for a in args):
            args.append(f"--{name}={threads}")
    return [sys.executable, "-m", "t2tlike_cli.t2t_trainer", *args]


def _copy_lines(stream, prefix, out, hide):
    for line in iter(stream.readline, ""):
        if not (hide and hide.search(line)):
            out.write(prefix + line)
            out.flush()
    stream.close()


def launch(flags, count, hide=None):
    """Runs `count` workers of t2t-trainer `flags` here -> (exit status, the signal they
    all stopped on, or None). Their lines that match `hide` (a regular expression: start-up
    noise) are left out."""
    command = worker_command(flags, count)
    logging.info("Starting %d local workers on 127.0.0.1: %s", count, " ".join(command[2:]))
    workers, copiers = [], []
    env = dict(os.environ)
    for index, config in enumerate(tf_configs(count)):
        env["TF_CONFIG"] = config
        proc = subprocess.Popen(command, env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1)
        copier = threading.Thread(target=_copy_lines, daemon=True,
                                  args=(proc.stdout, f"[worker {index}] ", sys.stderr, hide))
        copier.start()
        workers.append(proc)
        copiers.append(copier)
        logging.info("worker %d: pid %d", index, proc.pid)

    def pass_on(signum, frame):
        del frame
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        statuses = [proc.wait() for proc in workers]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for copier in copiers:
        copier.join()
    failed = [(i, s if s > 0 else 128 - s) for i, s in enumerate(statuses) if s]
    stopped = len({s for _, s in failed}) == 1 and len(failed) == count and failed[0][1] > 128
    if stopped:   # all stopped together on a signal (sent to one of them, or passed on)
        return failed[0][1], failed[0][1] - 128
    for index, status in failed:
        logging.error("worker %d exited with status %d.", index, status)
    return (failed[0][1] if failed else 0), None
