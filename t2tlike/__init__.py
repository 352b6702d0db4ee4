"""t2tlike: a Tensor2Tensor-style sequence-modeling toolkit on TensorFlow 2."""
import os

__version__ = "0.1.0"

# TensorFlow's default CPU allocator takes each large buffer fresh from the operating
# system and returns it when freed, so a train step whose [tokens, vocab] logits and
# gradients are 100+ MB each pays page faults on every one of them, every step
# (docs/benchmarks.md, "Where the time goes"). Its BFC allocator keeps freed memory for reuse. TensorFlow reads this variable when it
# creates its CPU device (its first op), so it is set here, at import; a value the user
# set, "false" included, wins.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
