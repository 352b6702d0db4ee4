# A custom problem and hparams set written the way T2T's documentation teaches.
# Compared to a T2T user module only the imports differ:
#   tensor2tensor.data_generators.X  ->  data_generators.X
#   tensor2tensor.utils.registry     ->  t2tlike.registry
#   tensor2tensor.models.X           ->  t2tlike.models.X
import random

from data_generators import problem
from data_generators import text_problems
from t2tlike import registry
from t2tlike.models import transformer

WORDS = ["red", "green", "blue", "cat", "dog", "bird", "sun", "moon", "tree", "river",
         "stone", "light", "small", "big", "runs", "sleeps", "sings", "the", "a", "over"]


@registry.register_problem
class ReverseWordsToy(text_problems.Text2TextProblem):
  """Emit the words of a short sentence in reverse order."""

  @property
  def approx_vocab_size(self):
    return 2**6  # ~64 subwords

  @property
  def is_generate_per_split(self):
    # generate_samples is called once; the samples are split 9:1 into train and dev
    return False

  @property
  def dataset_splits(self):
    return [{
        "split": problem.DatasetSplit.TRAIN,
        "shards": 9,
    }, {
        "split": problem.DatasetSplit.EVAL,
        "shards": 1,
    }]

  def generate_samples(self, data_dir, tmp_dir, dataset_split):
    del data_dir, tmp_dir, dataset_split
    rng = random.Random(1234)
    for _ in range(2000):
      words = rng.choices(WORDS, k=rng.randint(2, 6))
      yield {"inputs": " ".join(words), "targets": " ".join(reversed(words))}


@registry.register_hparams
def transformer_reverse_words_toy():
  hparams = transformer.transformer_base()
  hparams.num_hidden_layers = 1
  hparams.hidden_size = 32
  hparams.filter_size = 64
  hparams.num_heads = 2
  hparams.batch_size = 512
  hparams.learning_rate_warmup_steps = 100
  hparams.add_hparam("toy_note", "added by a user hparams function")
  return hparams
