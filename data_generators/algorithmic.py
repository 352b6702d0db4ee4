"""Algorithmic problems, synthesised deterministically with T2T's names and defaults.

Each sample is a list of symbols 0..num_symbols-1; on disk they are shifted past the
reserved ids and end in EOS, and as text they are space-separated ("1 0 1 1"), so
`t2t-decoder --decode_from_file` takes such lines. As in T2T, training strings have
length 1..train_length (40) and the dev split probes length generalisation with strings
up to dev_length (400). The extra `test` split holds 1,000 strings drawn like the
training ones but never equal to one of them: the held-out check that the model learnt
the task at the lengths it was trained on.

Each registered problem is one class directly under its family's base (identity, reverse,
Zipf-like reverse, arithmetic), setting the family's settings as class attributes:
`num_symbols`, `train_length`, `dev_length`, `train_size`, `dev_size`, `test_size`,
`num_shards` (a T2T-style subclass may also override them as properties).
"""
import math
import operator
import random

from data_generators import generator_utils, text_encoder
from data_generators.problem import DatasetSplit, Problem
from t2tlike import registry


class AlgorithmicProblem(Problem):
    """Base class: subclasses set `num_symbols` and define `generator`."""

    num_symbols = None          # distinct symbols of the strings
    train_length = 40           # training strings have length 1..train_length
    dev_length = 400            # dev strings have length 1..dev_length
    train_size = 100_000
    dev_size = 10_000
    test_size = 1_000
    num_shards = 10             # training shards; dev and test have one each
    is_generate_per_split = True

    @property
    def vocab_symbols(self):
        """Distinct symbols that can appear (num_symbols, plus an operator for arithmetic)."""
        return self.num_symbols

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        """Yields dicts {"inputs": [int], "targets": [int]} of raw symbols."""
        raise NotImplementedError(f"{type(self).__name__} must define generator")

    @property
    def dataset_splits(self):
        """[{"split": ..., "shards": ...}]: train (num_shards), dev and test (one shard
        each); a split whose size is 0 is left out."""
        return [{"split": split, "shards": self.num_shards if split == DatasetSplit.TRAIN else 1}
                for split in (DatasetSplit.TRAIN, DatasetSplit.EVAL, DatasetSplit.TEST)
                if self._split_size(split)]

    def _split_size(self, split):
        return {DatasetSplit.TRAIN: self.train_size, DatasetSplit.EVAL: self.dev_size,
                DatasetSplit.TEST: self.test_size}[split]

    def _cases(self, split):
        rng = random.Random(f"{self.dataset_filename()}/{split}")
        if split == DatasetSplit.TRAIN:
            return self.generator(self.num_symbols, self.train_length, self.train_size, rng)
        if split == DatasetSplit.EVAL:
            return self.generator(self.num_symbols, self.dev_length, self.dev_size, rng)
        return self._unseen_cases(rng)

    def _unseen_cases(self, rng):
        seen = {tuple(c["inputs"]) for c in self._cases(DatasetSplit.TRAIN)}
        count = 0
        for case in self.generator(self.num_symbols, self.train_length, 100 * self.test_size, rng):
            if tuple(case["inputs"]) not in seen:
                seen.add(tuple(case["inputs"]))
                count += 1
                yield case
                if count >= self.test_size:
                    return

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        """Yields {"inputs": "1 0 1", "targets": "1 0 1"} as text, as a decoder user types it."""
        for case in self._cases(dataset_split):
            yield {k: " ".join(map(str, v)) for k, v in case.items()}

    def _encoded(self, split):
        for case in self._cases(split):
            yield {k: [s + text_encoder.NUM_RESERVED_TOKENS for s in v] + [text_encoder.EOS_ID]
                   for k, v in case.items()}

    def generate_data(self, data_dir, tmp_dir, task_id=-1):
        name = self.dataset_filename()
        for s in self.dataset_splits:
            split = s["split"]
            paths = generator_utils.shard_filepaths(data_dir, name, split, s["shards"])
            generator_utils.generate_files(self._encoded(split), paths,
                                           total=self._split_size(split),
                                           shuffle=split == DatasetSplit.TRAIN)

    def feature_encoders(self, data_dir):
        vocab_size = self.vocab_symbols + text_encoder.NUM_RESERVED_TOKENS
        encoder = text_encoder.TextEncoder(vocab_size=vocab_size)
        return {"inputs": encoder, "targets": encoder}

    def hparams(self, defaults, model_hparams):
        vocab_size = self.vocab_symbols + text_encoder.NUM_RESERVED_TOKENS
        defaults.modality = {"inputs": "symbol", "targets": "symbol"}
        defaults.vocab_size = {"inputs": vocab_size, "targets": vocab_size}


def _random_symbols(rng, nbr_symbols, length):
    return [rng.randrange(nbr_symbols) for _ in range(length)]


# -- identity ------------------------------------------------------------------------------

class AlgorithmicIdentity(AlgorithmicProblem):
    """Family: copy a string of num_symbols symbols."""

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for _ in range(nbr_cases):
            inputs = _random_symbols(rng, nbr_symbols, rng.randint(1, max_length))
            yield {"inputs": inputs, "targets": list(inputs)}


@registry.register_problem
class AlgorithmicIdentityBinary40(AlgorithmicIdentity):
    """Copy a binary string."""
    num_symbols = 2


@registry.register_problem
class AlgorithmicIdentityDecimal40(AlgorithmicIdentity):
    """Copy a decimal string."""
    num_symbols = 10


# -- shift ---------------------------------------------------------------------------------

@registry.register_problem
class AlgorithmicShiftDecimal40(AlgorithmicProblem):
    """Add `shift` (10) to every symbol of a string over 0..9 (20 symbols in all)."""
    num_symbols = 20
    dev_length = 80
    shift = 10

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for _ in range(nbr_cases):
            inputs = _random_symbols(rng, nbr_symbols - self.shift, rng.randint(1, max_length))
            yield {"inputs": inputs, "targets": [s + self.shift for s in inputs]}


# -- reverse -------------------------------------------------------------------------------

class AlgorithmicReverse(AlgorithmicProblem):
    """Family: reverse a string of num_symbols symbols."""

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for _ in range(nbr_cases):
            inputs = _random_symbols(rng, nbr_symbols, rng.randint(1, max_length))
            yield {"inputs": inputs, "targets": inputs[::-1]}


@registry.register_problem
class AlgorithmicReverseBinary40(AlgorithmicReverse):
    """Reverse a binary string."""
    num_symbols = 2


@registry.register_problem
class AlgorithmicReverseDecimal40(AlgorithmicReverse):
    """Reverse a decimal string."""
    num_symbols = 10


def _zipf_weights(nbr_symbols, alpha):
    return [1.0 / math.pow(i + 1, alpha) for i in range(nbr_symbols)]


class AlgorithmicReverseNlplike(AlgorithmicProblem):
    """Family: reverse a 'sentence' of Zipf-distributed symbols (exponent `alpha`), whose
    length is normal around max_length / 2 with deviation max_length / scale_std_dev."""
    train_length = 70
    dev_length = 70
    scale_std_dev = 100
    alpha = 1.5

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        weights = _zipf_weights(nbr_symbols, self.alpha)
        population = range(nbr_symbols)
        std_dev = max_length / self.scale_std_dev
        for _ in range(nbr_cases):
            length = min(max(int(round(rng.gauss(max_length / 2, std_dev))), 1), max_length)
            inputs = rng.choices(population, weights=weights, k=length)
            yield {"inputs": inputs, "targets": inputs[::-1]}


@registry.register_problem
class AlgorithmicReverseNlplike8k(AlgorithmicReverseNlplike):
    """An 8k vocabulary, lengths close to 35."""
    num_symbols = 8000
    scale_std_dev = 100
    alpha = 1.5


@registry.register_problem
class AlgorithmicReverseNlplike32k(AlgorithmicReverseNlplike):
    """A 32k vocabulary, a flatter Zipf law and more varied lengths."""
    num_symbols = 32000
    scale_std_dev = 10
    alpha = 1.05


# -- arithmetic ----------------------------------------------------------------------------

def _to_lower_endian(n, base):
    digits = []
    while True:
        digits.append(n % base)
        n //= base
        if n == 0:
            return digits


def _from_lower_endian(digits, base):
    return sum(d * base ** i for i, d in enumerate(digits))


class AlgorithmicArithmetic(AlgorithmicProblem):
    """Family: inputs n1 + [op] + n2 in base num_symbols, both least-significant digit
    first; targets operation(n1, n2), likewise."""

    operation = None   # a function of two ints, e.g. staticmethod(operator.add)

    @property
    def vocab_symbols(self):
        return self.num_symbols + 1   # the operator symbol is `base`

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        base = nbr_symbols
        if max_length < 3:
            raise ValueError("arithmetic problems need max_length >= 3")
        for _ in range(nbr_cases):
            l1 = rng.randint(1, max_length // 2)
            l2 = rng.randint(1, max_length - l1 - 1)
            n1, n2 = _random_symbols(rng, base, l1), _random_symbols(rng, base, l2)
            result = self.operation(_from_lower_endian(n1, base), _from_lower_endian(n2, base))
            yield {"inputs": n1 + [base] + n2, "targets": _to_lower_endian(result, base)}


@registry.register_problem
class AlgorithmicAdditionBinary40(AlgorithmicArithmetic):
    """Add two binary numbers (lower-endian)."""
    num_symbols = 2
    operation = staticmethod(operator.add)


@registry.register_problem
class AlgorithmicAdditionDecimal40(AlgorithmicArithmetic):
    """Add two decimal numbers (lower-endian)."""
    num_symbols = 10
    operation = staticmethod(operator.add)


@registry.register_problem
class AlgorithmicMultiplicationBinary40(AlgorithmicArithmetic):
    """Multiply two binary numbers (lower-endian)."""
    num_symbols = 2
    operation = staticmethod(operator.mul)


@registry.register_problem
class AlgorithmicMultiplicationDecimal40(AlgorithmicArithmetic):
    """Multiply two decimal numbers (lower-endian)."""
    num_symbols = 10
    operation = staticmethod(operator.mul)


# -- sort ----------------------------------------------------------------------------------

@registry.register_problem
class AlgorithmicSortProblem(AlgorithmicProblem):
    """Sort a sequence of distinct symbols (as many symbols as the longest string)."""
    train_length = 10
    dev_length = 20

    @property
    def num_symbols(self):
        return max(self.train_length, self.dev_length)

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for _ in range(nbr_cases):
            inputs = rng.sample(range(nbr_symbols), rng.randint(1, max_length))
            yield {"inputs": inputs, "targets": sorted(inputs)}
