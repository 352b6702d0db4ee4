"""Imports every built-in problem module so their registrations take effect."""
from data_generators import algorithmic  # noqa: F401
from data_generators import multi30k  # noqa: F401
from data_generators import translate_ende  # noqa: F401
from data_generators import tfds_problem  # noqa: F401  (registers the tfds: prefix)
from data_generators import multi_problem  # noqa: F401  (MultiProblem, the '+' composer)
