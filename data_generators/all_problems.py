"""Imports every built-in problem module so their registrations take effect."""
from data_generators import algorithmic  # noqa: F401
