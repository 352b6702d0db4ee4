"""Text encoders: text <-> lists of ids, with T2T's reserved ids 0 = PAD and 1 = EOS.

* `TextEncoder`: space-separated integers, shifted past the reserved ids ("1 0 1" ->
  [3, 2, 3]); what the algorithmic problems use.
* `ByteTextEncoder`: UTF-8 bytes (VocabType.CHARACTER).
* `TokenTextEncoder`: whitespace tokens looked up in a vocab file, one token a line, with
  an OOV token (VocabType.TOKEN).
* `SentencePieceEncoder`: a SentencePiece model (VocabType.SUBWORD), built once from a
  bounded sample of the corpus by `build_sentencepiece`.
* `ClassLabelEncoder`: class names <-> class ids 0..n-1 (a Text2ClassProblem's targets;
  no reserved ids, since a label is never padding).
* (`task_tag_encoder.TaskTagEncoder`: a shared encoder plus one tag id per task, a
  MultiProblem's vocabulary.)
"""
import os
import tempfile

from t2tlike.decoding.ids import EOS_ID, PAD_ID, cut_at_eos  # noqa: F401  (the ids' home)
from t2tlike.errors import UserError
from t2tlike.files import PY_SPACE_CHARS, PY_WHITESPACE  # noqa: F401  (the encoders' split)

PAD = "<pad>"
EOS = "<EOS>"
RESERVED_TOKENS = [PAD, EOS]          # at PAD_ID and EOS_ID
NUM_RESERVED_TOKENS = len(RESERVED_TOKENS)


def strip_ids(ids, ids_to_strip):
    ids = list(ids)
    while ids and ids[-1] in ids_to_strip:
        ids.pop()
    return ids


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

    # In-graph versions (an exported SavedModel's tokenisation): strings [batch] -> ragged
    # ids [batch, (len)], and ragged ids (cut at EOS, no padding) -> strings [batch].
    def tf_encode(self, strings):
        import tensorflow as tf
        words = tf.strings.split(strings)
        return tf.strings.to_number(words, tf.int32) + self._num_reserved_ids

    def tf_decode(self, ids):
        import tensorflow as tf
        return tf.strings.reduce_join(tf.strings.as_string(ids - self._num_reserved_ids),
                                      axis=-1, separator=" ")


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

    def tf_encode(self, strings):
        import tensorflow as tf
        chars = tf.strings.bytes_split(strings)
        values = tf.reshape(tf.io.decode_raw(chars.flat_values, tf.uint8), [-1])
        return chars.with_flat_values(tf.cast(values, tf.int32) + self._num_reserved_ids)

    def tf_decode(self, ids):
        import tensorflow as tf
        table = tf.constant([bytes([b]) for b in range(256)])
        ids = tf.ragged.boolean_mask(ids, ids >= self._num_reserved_ids)
        text = tf.strings.reduce_join(tf.gather(table, ids - self._num_reserved_ids), axis=-1)
        return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")

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

    def tf_encode(self, strings):
        """As `encode`, through a lookup table; split at Python's whitespace (str.split's)."""
        import tensorflow as tf
        words = tf.strings.split(tf.strings.regex_replace(strings, PY_WHITESPACE, " "))
        ids = self._tf_tables()[0].lookup(words)      # an unknown word: the OOV id, else -1
        unknown = tf.boolean_mask(words.flat_values, ids.flat_values < 0)
        with tf.control_dependencies([tf.debugging.Assert(tf.size(unknown) == 0, [
                "tokens not in the vocabulary and no OOV token is set:", unknown])]):
            return tf.cast(ids, tf.int32)

    def tf_decode(self, ids):
        """As `decode` (ids [batch, (len)] -> strings [batch]), through a lookup table."""
        import tensorflow as tf
        check = tf.debugging.assert_less(ids, self.vocab_size, message="token id out of range")
        with tf.control_dependencies([check]):
            tokens = self._tf_tables()[1].lookup(tf.cast(ids, tf.int64))
        return tf.strings.reduce_join(tokens, axis=-1, separator=" ")

    def tf_resources(self):
        """What an export must keep with the graph: the two lookup tables."""
        return list(self._tf_tables())

    def _tf_tables(self):
        """(token -> id, id -> token) tf.lookup tables, made once (eagerly)."""
        if getattr(self, "_tables", None) is None:
            import tensorflow as tf
            init, tokens = tf.lookup.KeyValueTensorInitializer, list(self._token_to_id)
            ids = tf.constant([self._token_to_id[t] for t in tokens], tf.int64)
            oov = self._token_to_id.get(self._replace_oov, -1)
            with tf.init_scope():
                self._tables = (tf.lookup.StaticHashTable(init(tokens, ids), oov),
                                tf.lookup.StaticHashTable(init(ids, tokens), ""))
        return self._tables


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

    def tf_encode(self, strings):
        return self._tf_tokenizer().tokenize(strings)

    def tf_decode(self, ids):
        return self._tf_tokenizer().detokenize(ids)

    def tf_resources(self):
        """What an export must keep with the graph: the tokenizer's model resource."""
        return [self._tf_tokenizer()]

    def _tf_tokenizer(self):
        """tensorflow-text's SentencePiece op with this model (its bytes go into the graph,
        so an export needs no file beside it)."""
        if getattr(self, "_tokenizer", None) is None:
            import tensorflow_text
            with open(self.model_path, "rb") as f:
                self._tokenizer = tensorflow_text.SentencepieceTokenizer(model=f.read())
        return self._tokenizer

    @property
    def vocab_size(self):
        return self._sp.get_piece_size()


class ClassLabelEncoder(TextEncoder):
    """Class label names <-> ids 0 .. num_classes - 1, as T2T's ClassLabelEncoder.

    `encode("positive")` -> 1 (an int, not a list); `decode(1)` or `decode([1])` ->
    "positive". The labels come from a list or from a file with one label a line.
    """

    def __init__(self, class_labels=None, class_labels_fname=None):
        super().__init__(num_reserved_ids=0)
        if (class_labels is None) == (class_labels_fname is None):
            raise UserError("ClassLabelEncoder needs exactly one of class_labels (a list of "
                            "names) or class_labels_fname (a file with one name a line).")
        if class_labels_fname is not None:
            if not os.path.exists(class_labels_fname):
                raise UserError(f"class labels file {class_labels_fname} does not exist; it "
                                "should hold one class name a line.")
            with open(class_labels_fname, encoding="utf-8") as f:
                class_labels = [line.strip() for line in f if line.strip()]
        class_labels = [str(label) for label in class_labels]
        if not class_labels:
            raise UserError("ClassLabelEncoder got no class labels; expected at least one.")
        duplicates = sorted({label for label in class_labels if class_labels.count(label) > 1})
        if duplicates:
            raise UserError(f"class labels must be unique; repeated: {duplicates}.")
        self._class_labels = class_labels
        self._label_to_id = {label: i for i, label in enumerate(class_labels)}

    @property
    def class_labels(self):
        return list(self._class_labels)

    def encode(self, s):
        """A label name -> its id (an int)."""
        label = s.strip()
        if label not in self._label_to_id:
            raise UserError(f"unknown class label {label!r}; expected one of "
                            f"{self._class_labels[:10]}"
                            f"{' ...' if len(self._class_labels) > 10 else ''}.")
        return self._label_to_id[label]

    def decode(self, ids, strip_extraneous=False):
        """An id, or a list / array holding exactly one id -> the label name."""
        flat = [int(i) for i in _flatten(ids)]
        if len(flat) != 1:
            raise UserError(f"a class label is one id; got {len(flat)} ids: {flat[:10]}.")
        return self.decode_list(flat)[0]

    def decode_list(self, ids):
        out = []
        for i in _flatten(ids):
            i = int(i)
            if not 0 <= i < len(self._class_labels):
                raise UserError(f"class id {i} is out of range; this encoder has "
                                f"{len(self._class_labels)} classes (ids 0..."
                                f"{len(self._class_labels) - 1}).")
            out.append(self._class_labels[i])
        return out

    @property
    def vocab_size(self):
        return len(self._class_labels)

    def tf_decode(self, ids):
        """As `decode`, in the graph: ids [batch, (1)] (class ids, none cut) -> the label
        names [batch]. (No tf_encode: labels are outputs only.)"""
        import tensorflow as tf
        check = tf.debugging.assert_less(ids, self.vocab_size, message="class id out of range")
        with tf.control_dependencies([check]):
            names = tf.gather(tf.constant(self._class_labels), ids)
        return tf.strings.reduce_join(names, axis=-1)


def _flatten(ids):
    """An int, a (nested) list or a numpy array -> a flat list of its values."""
    if hasattr(ids, "tolist"):          # numpy arrays and numpy scalars
        ids = ids.tolist()
    if isinstance(ids, (list, tuple)):
        return [v for item in ids for v in _flatten(item)]
    return [ids]


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
