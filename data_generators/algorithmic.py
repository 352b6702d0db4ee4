"""Algorithmic problems, synthesised deterministically with T2T's names and defaults.

Each sample is a list of symbols 0..num_symbols-1; on disk they are shifted past the
reserved ids and end in EOS, and as text they are space-separated ("1 0 1 1"), so
`t2t-decoder --decode_from_file` takes such lines. As in T2T, training strings have
length 1..train_length (40) and the dev split probes length generalisation with strings
up to dev_length (400). The extra `test` split holds 1,000 strings drawn like the
training ones but never equal to one of them: the held-out check that the model learnt
the task at the lengths it was trained on.
"""
import math
import random

from data_generators import generator_utils, text_encoder
from data_generators.problem import DatasetSplit, Problem
from t2tlike import registry


class AlgorithmicProblem(Problem):
    """Base class: subclasses define `num_symbols` and `generator`."""

    @property
    def num_symbols(self):
        raise NotImplementedError

    @property
    def vocab_symbols(self):
        """Distinct symbols that can appear (num_symbols, plus an operator for arithmetic)."""
        return self.num_symbols

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        """Yields dicts {"inputs": [int], "targets": [int]} of raw symbols."""
        raise NotImplementedError

    @property
    def train_length(self):
        return 40

    @property
    def dev_length(self):
        return 400

    @property
    def train_size(self):
        return 100_000

    @property
    def dev_size(self):
        return 10_000

    @property
    def test_size(self):
        return 1_000

    @property
    def num_shards(self):
        return 10

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
        for split, shards, total in ((DatasetSplit.TRAIN, self.num_shards, self.train_size),
                                     (DatasetSplit.EVAL, 1, self.dev_size),
                                     (DatasetSplit.TEST, 1, self.test_size)):
            if total == 0:
                continue
            paths = generator_utils.shard_filepaths(data_dir, name, split, shards)
            if generator_utils.generate_files(self._encoded(split), paths, total=total) \
                    and split == DatasetSplit.TRAIN:
                generator_utils.shuffle_dataset(paths)

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


@registry.register_problem
class AlgorithmicIdentityBinary40(AlgorithmicProblem):
    """Copy a binary string."""

    @property
    def num_symbols(self):
        return 2

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for _ in range(nbr_cases):
            inputs = _random_symbols(rng, nbr_symbols, rng.randint(1, max_length))
            yield {"inputs": inputs, "targets": list(inputs)}


@registry.register_problem
class AlgorithmicIdentityDecimal40(AlgorithmicIdentityBinary40):
    """Copy a decimal string."""

    @property
    def num_symbols(self):
        return 10


@registry.register_problem
class AlgorithmicShiftDecimal40(AlgorithmicProblem):
    """Add 10 to every symbol of a string over 0..9 (20 symbols in all)."""

    @property
    def num_symbols(self):
        return 20

    @property
    def dev_length(self):
        return 80

    def generator(self, nbr_symbols, max_length, nbr_cases, rng, shift=10):
        for _ in range(nbr_cases):
            inputs = _random_symbols(rng, nbr_symbols - shift, rng.randint(1, max_length))
            yield {"inputs": inputs, "targets": [s + shift for s in inputs]}


@registry.register_problem
class AlgorithmicReverseBinary40(AlgorithmicProblem):
    """Reverse a binary string."""

    @property
    def num_symbols(self):
        return 2

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for _ in range(nbr_cases):
            inputs = _random_symbols(rng, nbr_symbols, rng.randint(1, max_length))
            yield {"inputs": inputs, "targets": inputs[::-1]}


@registry.register_problem
class AlgorithmicReverseDecimal40(AlgorithmicReverseBinary40):
    """Reverse a decimal string."""

    @property
    def num_symbols(self):
        return 10


def _zipf_weights(nbr_symbols, alpha):
    return [1.0 / math.pow(i + 1, alpha) for i in range(nbr_symbols)]


@registry.register_problem
class AlgorithmicReverseNlplike8k(AlgorithmicProblem):
    """Reverse a 'sentence' of Zipf-distributed symbols (8k vocabulary), lengths ~ normal."""

    @property
    def num_symbols(self):
        return 8000

    @property
    def train_length(self):
        return 70

    @property
    def dev_length(self):
        return 70

    def generator(self, nbr_symbols, max_length, nbr_cases, rng, scale_std_dev=100, alpha=1.5):
        weights = _zipf_weights(nbr_symbols, alpha)
        population = range(nbr_symbols)
        std_dev = max_length / scale_std_dev
        for _ in range(nbr_cases):
            length = min(max(int(round(rng.gauss(max_length / 2, std_dev))), 1), max_length)
            inputs = rng.choices(population, weights=weights, k=length)
            yield {"inputs": inputs, "targets": inputs[::-1]}


@registry.register_problem
class AlgorithmicReverseNlplike32k(AlgorithmicReverseNlplike8k):
    """As the 8k variant with a 32k vocabulary and a flatter Zipf law."""

    @property
    def num_symbols(self):
        return 32000

    def generator(self, nbr_symbols, max_length, nbr_cases, rng, scale_std_dev=10, alpha=1.05):
        return super().generator(nbr_symbols, max_length, nbr_cases, rng, scale_std_dev, alpha)


def _to_lower_endian(n, base):
    digits = []
    while True:
        digits.append(n % base)
        n //= base
        if n == 0:
            return digits


def _from_lower_endian(digits, base):
    return sum(d * base ** i for i, d in enumerate(digits))


class _ArithmeticProblem(AlgorithmicProblem):
    """Inputs: n1 + [op] + n2, both least-significant digit first; targets: the result."""

    @property
    def vocab_symbols(self):
        return self.num_symbols + 1   # the operator symbol is `base`

    def combine(self, a, b):
        raise NotImplementedError

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        base = nbr_symbols
        if max_length < 3:
            raise ValueError("arithmetic problems need max_length >= 3")
        for _ in range(nbr_cases):
            l1 = rng.randint(1, max_length // 2)
            l2 = rng.randint(1, max_length - l1 - 1)
            n1, n2 = _random_symbols(rng, base, l1), _random_symbols(rng, base, l2)
            result = self.combine(_from_lower_endian(n1, base), _from_lower_endian(n2, base))
            yield {"inputs": n1 + [base] + n2, "targets": _to_lower_endian(result, base)}


@registry.register_problem
class AlgorithmicAdditionBinary40(_ArithmeticProblem):
    """Add two binary numbers (lower-endian)."""

    @property
    def num_symbols(self):
        return 2

    def combine(self, a, b):
        return a + b


@registry.register_problem
class AlgorithmicAdditionDecimal40(AlgorithmicAdditionBinary40):
    @property
    def num_symbols(self):
        return 10


@registry.register_problem
class AlgorithmicMultiplicationBinary40(_ArithmeticProblem):
    """Multiply two binary numbers (lower-endian)."""

    @property
    def num_symbols(self):
        return 2

    def combine(self, a, b):
        return a * b


@registry.register_problem
class AlgorithmicMultiplicationDecimal40(AlgorithmicMultiplicationBinary40):
    @property
    def num_symbols(self):
        return 10


@registry.register_problem
class AlgorithmicSortProblem(AlgorithmicProblem):
    """Sort a sequence of distinct symbols."""

    @property
    def train_length(self):
        return 10

    @property
    def dev_length(self):
        return 20

    @property
    def num_symbols(self):
        return max(self.train_length, self.dev_length)

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for _ in range(nbr_cases):
            inputs = rng.sample(range(nbr_symbols), rng.randint(1, max_length))
            yield {"inputs": inputs, "targets": sorted(inputs)}
