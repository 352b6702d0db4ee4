"""Keras 3 layers: attention, Transformer stacks, modalities."""
