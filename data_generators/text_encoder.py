"""Text encoders: text <-> lists of ids, with T2T's reserved ids 0 = PAD and 1 = EOS.

* `TextEncoder`: space-separated integers, shifted past the reserved ids ("1 0 1" ->
  [3, 2, 3]); what the algorithmic problems use.
* `ByteTextEncoder`: UTF-8 bytes (VocabType.CHARACTER).
* `TokenTextEncoder`: whitespace tokens looked up in a vocab file, one token a line, with
  an OOV token (VocabType.TOKEN).
* `SentencePieceEncoder`: a SentencePiece model (VocabType.SUBWORD), built once from a
  bounded sample of the corpus by `build_sentencepiece`.
"""
import os
import tempfile

from t2tlike.errors import UserError

PAD = "<pad>"
EOS = "<EOS>"
RESERVED_TOKENS = [PAD, EOS]
NUM_RESERVED_TOKENS = len(RESERVED_TOKENS)
PAD_ID = RESERVED_TOKENS.index(PAD)  # 0
EOS_ID = RESERVED_TOKENS.index(EOS)  # 1


def strip_ids(ids, ids_to_strip):
    ids = list(ids)
    while ids and ids[-1] in ids_to_strip:
        ids.pop()
    return ids


def cut_at_eos(ids):
    """The ids before the first EOS (and without padding)."""
    ids = [int(i) for i in ids]
    if EOS_ID in ids:
        ids = ids[:ids.index(EOS_ID)]
    return [i for i in ids if i != PAD_ID]


class TextEncoder:
    """Space-separated integers <-> ids offset by the reserved ids."""

    def __init__(self, num_reserved_ids=NUM_RESERVED_TOKENS, vocab_size=None):
        self._num_reserved_ids = num_reserved_ids
        self._vocab_size = vocab_size

    @property
    def num_reserved_ids(self):
        return self._num_reserved_ids

    def encode(self, s):
        try:
            return [int(w) + self._num_reserved_ids for w in s.split()]
        except ValueError:
            raise UserError(f"expected space-separated integers (e.g. '1 0 1 1'), got {s!r}.")

    def decode(self, ids, strip_extraneous=False):
        if strip_extraneous:
            ids = strip_ids(ids, list(range(self._num_reserved_ids)))
        return " ".join(self.decode_list(ids))

    def decode_list(self, ids):
        out = []
        for i in ids:
            i = int(i)
            out.append(RESERVED_TOKENS[i] if i < self._num_reserved_ids
                       else str(i - self._num_reserved_ids))
        return out

    @property
    def vocab_size(self):
        if self._vocab_size is None:
            raise NotImplementedError("this TextEncoder was built without a vocab_size")
        return self._vocab_size


class ByteTextEncoder(TextEncoder):
    """UTF-8 bytes, each shifted past the reserved ids."""

    def encode(self, s):
        return [b + self._num_reserved_ids for b in s.encode("utf-8")]

    def decode(self, ids, strip_extraneous=False):
        if strip_extraneous:
            ids = strip_ids(ids, list(range(self._num_reserved_ids)))
        data = bytes(int(i) - self._num_reserved_ids for i in ids
                     if int(i) >= self._num_reserved_ids)
        return data.decode("utf-8", errors="replace")

    def decode_list(self, ids):
        return [chr(int(i) - self._num_reserved_ids) if int(i) >= self._num_reserved_ids
                else RESERVED_TOKENS[int(i)] for i in ids]

    @property
    def vocab_size(self):
        return 2 ** 8 + self._num_reserved_ids


class TokenTextEncoder(TextEncoder):
    """Whitespace tokens from a vocab file (one token a line); unknown tokens map to OOV."""

    def __init__(self, vocab_filename, replace_oov="<UNK>", num_reserved_ids=NUM_RESERVED_TOKENS):
        super().__init__(num_reserved_ids=num_reserved_ids)
        if not os.path.exists(vocab_filename):
            raise UserError(f"vocab file {vocab_filename} does not exist. A TOKEN-vocabulary "
                            "problem needs it in data_dir: one token per line.")
        with open(vocab_filename, encoding="utf-8") as f:
            tokens = [line.strip() for line in f if line.strip()]
        tokens = [t for t in tokens if t not in RESERVED_TOKENS]
        self._replace_oov = replace_oov
        if replace_oov is not None and replace_oov not in tokens:
            tokens.append(replace_oov)
        self._id_to_token = RESERVED_TOKENS[:num_reserved_ids] + tokens
        self._token_to_id = {t: i for i, t in enumerate(self._id_to_token)}

    def encode(self, s):
        ids = []
        for tok in s.split():
            if tok not in self._token_to_id:
                if self._replace_oov is None:
                    raise UserError(f"token {tok!r} is not in the vocabulary and no OOV token "
                                    "is set.")
                tok = self._replace_oov
            ids.append(self._token_to_id[tok])
        return ids

    def decode(self, ids, strip_extraneous=False):
        if strip_extraneous:
            ids = strip_ids(ids, list(range(self._num_reserved_ids)))
        return " ".join(self.decode_list(ids))

    def decode_list(self, ids):
        return [self._id_to_token[int(i)] for i in ids]

    @property
    def vocab_size(self):
        return len(self._id_to_token)


class SentencePieceEncoder(TextEncoder):
    """A SentencePiece model whose ids 0 and 1 are PAD and EOS (unk is 2)."""

    def __init__(self, model_path):
        super().__init__()
        import sentencepiece as spm
        if not os.path.exists(model_path):
            raise UserError(f"SentencePiece model {model_path} does not exist; run t2t-datagen "
                            "for this problem first.")
        self.model_path = model_path
        self._sp = spm.SentencePieceProcessor(model_file=model_path)

    def encode(self, s):
        return self._sp.encode(s)

    def decode(self, ids, strip_extraneous=False):
        return self._sp.decode(cut_at_eos(ids) if strip_extraneous else
                               [int(i) for i in ids if int(i) > EOS_ID])

    def decode_list(self, ids):
        return [self._sp.id_to_piece(int(i)) for i in ids]

    @property
    def vocab_size(self):
        return self._sp.get_piece_size()


def build_sentencepiece(lines, model_path, vocab_size, character_coverage=1.0):
    """Trains a SentencePiece model of about `vocab_size` pieces from an iterable of lines.

    Reads the lines once as a stream (the caller bounds how many) and writes the model
    atomically: a temporary prefix in the same folder, then a rename.
    """
    import sentencepiece as spm
    folder = os.path.dirname(os.path.abspath(model_path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        prefix = os.path.join(tmp, "spm")
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_prefix=prefix, vocab_size=vocab_size,
            hard_vocab_limit=False, character_coverage=character_coverage,
            pad_id=PAD_ID, eos_id=EOS_ID, unk_id=2, bos_id=-1, model_type="unigram",
            input_sentence_size=0, minloglevel=2)
        os.replace(prefix + ".model", model_path)
    return SentencePieceEncoder(model_path)
