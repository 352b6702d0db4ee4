"""t2tlike: a Tensor2Tensor-style sequence-modeling toolkit on TensorFlow 2."""

__version__ = "0.1.0"
