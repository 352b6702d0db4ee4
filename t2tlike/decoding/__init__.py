"""Decoding: greedy and beam search, and the file/interactive decoder."""
