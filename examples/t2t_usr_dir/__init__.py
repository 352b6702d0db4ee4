"""A user directory as T2T's docs teach it, with only the import lines changed.

  t2t-datagen --t2t_usr_dir=examples/t2t_usr_dir --problem=reverse_words_toy ...
"""
from . import my_problems  # noqa: F401
