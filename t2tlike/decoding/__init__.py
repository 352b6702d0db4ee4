"""Decoding: the reserved ids (ids.py), greedy and beam search over a step function
(beam_search.py), a model's inference built on them (search.py), and the file /
interactive / dataset-split decoder (decoder.py, with tasks.py for one task of a
multi-problem)."""
