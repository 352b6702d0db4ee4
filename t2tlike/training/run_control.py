"""The training loop's run control: stopping on a signal or on divergence, and the
progress line."""
import os
import signal
import threading
import time

from absl import logging

from t2tlike.errors import Stopped


class StopOnSignal:
    """While active (in the main thread), SIGTERM and SIGINT ask the loop to stop after the
    current step (`signal` holds the first one's number); a second one exits at once."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signal, self.name, self._previous = None, None, {}

    def _handle(self, signum, frame):
        del frame
        if self.signal is not None:
            logging.error("Second %s: exiting at once, without a checkpoint.",
                          signal.Signals(signum).name)
            os._exit(128 + signum)
        self.signal, self.name = signum, signal.Signals(signum).name
        logging.warning("Got %s: stopping after this step with a checkpoint (send it again "
                        "to exit at once).", self.name)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


class Progress:
    """Keeps the rates for the progress line."""

    def __init__(self, start_step, total_steps, every_seconds, deadline=None, every_steps=0):
        self.total, self.every, self.every_steps = total_steps, every_seconds, every_steps
        self.deadline = deadline  # wall-clock end of a --max_train_seconds budget
        self.t0 = self.last = time.time()
        self.step0 = self.last_step = start_step
        self.tokens = 0.0
        self.started = False

    def update(self, step, tokens):
        if not self.started:  # the first step includes tracing; start the clock after it
            self.started = True
            self.t0 = self.last = time.time()
            self.step0 = self.last_step = step
            return
        self.tokens += tokens

    def due(self, step=None):
        if self.every_steps and step is not None:
            return step % self.every_steps == 0
        return time.time() - self.last >= self.every

    def report(self, step, loss, lr, skipped=0):
        now = time.time()
        elapsed = max(now - self.t0, 1e-9)
        steps_per_sec = (step - self.step0) / elapsed
        tokens_per_sec = self.tokens / elapsed
        eta = (self.total - step) / steps_per_sec if steps_per_sec > 0 else float("nan")
        if self.deadline is not None:   # a time budget may end training first
            left = max(self.deadline - now, 0.0)
            eta = left if eta != eta else min(eta, left)
        rss = rss_mb()
        logging.info("step %d/%d  loss %.4f  lr %.3g  %.2f steps/s  %.0f tokens/s  ETA %s%s%s",
                     step, self.total, loss, lr, steps_per_sec, tokens_per_sec, fmt_eta(eta),
                     f"  rss {rss:,.0f} MB" if rss else "",
                     f"  skipped (non-finite) {skipped}" if skipped else "")
        self.last = now
        return {"steps_per_sec": steps_per_sec, "tokens_per_sec": tokens_per_sec}


def signal_name(number):
    """SIGTERM for 15."""
    return signal.Signals(int(number)).name


def stop_diverged(streak, limit, step, newest):
    """Raises errors.Stopped (exit status 1) for a run whose last `streak` steps, up to
    `step`, were skipped as not finite (`limit`: max_consecutive_skipped_steps); `newest`
    names the newest checkpoint."""
    steps = (f"the last {streak} steps, {step - streak + 1} to {step}, all skipped"
             if streak > 1 else f"step {step}, skipped")
    raise Stopped(f"training diverged: the loss or gradients were not finite (NaN or Inf) in "
                  f"{steps} (max_consecutive_skipped_steps={limit}). {newest} Lower "
                  "learning_rate_constant or raise learning_rate_warmup_steps and train into a "
                  "new --output_dir, or resume to retry.", 1)


def rss_mb():
    """The process's resident memory now (MB), from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError, IndexError):
        return None


def fmt_eta(seconds):
    if seconds != seconds:  # nan
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s" if seconds >= 3600 \
        else f"{seconds // 60}m{seconds % 60:02d}s"
