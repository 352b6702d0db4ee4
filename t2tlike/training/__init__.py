"""Training: learning-rate schedules, optimizers, metrics and the training loop."""
