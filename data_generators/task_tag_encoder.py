"""TaskTagEncoder: a MultiProblem's vocabulary, a shared text encoder plus one tag id per
task (`<task:NAME>` as text) after the shared encoder's last id."""
import re

from data_generators.text_encoder import PY_SPACE_CHARS, PY_WHITESPACE, TextEncoder
from t2tlike.decoding.ids import cut_at_eos
from t2tlike.errors import UserError

TAG_FORMAT = "<task:{}>"
_TAG = re.compile(r"(<task:[^>\s]+>)")
_TF_TAG = f"(<task:[^>{PY_SPACE_CHARS}]+>)"   # the same for RE2 (Python's \s is Unicode's)


class TaskTagEncoder(TextEncoder):
    """A shared text encoder (`base`) plus one tag id per task after its last id.

    Plain text encodes as with `base`; `<task:NAME>` in the text becomes that task's id.
    Decoding prints a tag id as `<task:NAME>` between the decoded text runs.
    """

    def __init__(self, base, task_names):
        super().__init__(num_reserved_ids=base.num_reserved_ids)
        self.base = base
        self.task_names = list(task_names)
        self._tag_ids = {TAG_FORMAT.format(n): base.vocab_size + i
                         for i, n in enumerate(self.task_names)}

    def tag(self, index):
        return TAG_FORMAT.format(self.task_names[index])

    def tag_id(self, index):
        return self.base.vocab_size + index

    def encode(self, s):
        if "<task:" not in s:
            return self.base.encode(s)
        ids = []
        for piece in _TAG.split(s):
            if _TAG.fullmatch(piece):
                if piece not in self._tag_ids:
                    raise UserError(f"unknown task tag {piece}; this vocabulary's tags are "
                                    f"{', '.join(self._tag_ids)}.")
                ids.append(self._tag_ids[piece])
            elif piece.strip():
                ids += self.base.encode(piece.strip())
        return ids

    def decode(self, ids, strip_extraneous=False):
        ids = [int(i) for i in ids]
        if strip_extraneous:
            ids = cut_at_eos(ids)
        parts, run = [], []
        for i in ids + [None]:
            if i is None or i >= self.base.vocab_size:
                text = self.base.decode(run) if run else ""
                parts += [text] if text else []
                run = []
                if i is not None:
                    parts.append(self._tag_text(i))
            else:
                run.append(i)
        return " ".join(parts)

    def decode_list(self, ids):
        return [self._tag_text(int(i)) if int(i) >= self.base.vocab_size
                else self.base.decode_list([i])[0] for i in ids]

    def _tag_text(self, i):
        index = i - self.base.vocab_size
        return self.tag(index) if index < len(self.task_names) else f"<id:{i}>"

    @property
    def vocab_size(self):
        return self.base.vocab_size + len(self.task_names)

    # In-graph versions (an export of one task): strings [batch] -> ragged ids, ragged ids
    # (cut at EOS) -> strings [batch], equal to encode / decode.
    def tf_encode(self, strings):
        """As `encode`: text between tags is stripped and encoded with the base encoder,
        each `<task:NAME>` becomes its id; an unknown tag stops the request, named."""
        import tensorflow as tf
        marked = tf.strings.regex_replace(strings, _TF_TAG, "\x00\\1\x00")
        pieces = tf.strings.split(marked, sep="\x00")                 # [batch, (pieces)]
        text = pieces.flat_values
        with_tags = tf.gather(tf.strings.regex_full_match(strings, "(?s).*<task:.*"),
                              pieces.value_rowids())   # encode() strips only such pieces
        stripped = tf.strings.regex_replace(text, f"^{PY_WHITESPACE}|{PY_WHITESPACE}$", "")
        text = tf.where(with_tags, stripped, text)
        is_tag = tf.strings.regex_full_match(text, _TF_TAG)
        matches = tf.equal(text[:, tf.newaxis], tf.constant(list(self._tag_ids))[tf.newaxis])
        unknown = tf.boolean_mask(text, is_tag & ~tf.reduce_any(matches, axis=1))
        known = f"this vocabulary's tags are {', '.join(self._tag_ids)}"
        with tf.control_dependencies([tf.debugging.Assert(tf.size(unknown) == 0, [
                f"unknown task tag; {known}:", unknown])]):
            tag_ids = tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int32)
        tags = tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(tag_ids + self.base.vocab_size, is_tag), tf.cast(is_tag, tf.int64))
        words = tf.cast(self.base.tf_encode(tf.where(is_tag, "", text)), tf.int32)
        return pieces.with_flat_values(tf.concat([tags, words], axis=1)).merge_dims(1, 2)

    def tf_decode(self, ids):
        """As `decode`: runs of base ids decoded by the base encoder, tag ids as
        `<task:NAME>`, joined by spaces (empty runs left out)."""
        import tensorflow as tf
        ids = tf.cast(ids, tf.int32)
        flat, rows, size = ids.flat_values, ids.value_rowids(), self.base.vocab_size
        is_tag = flat >= size
        first = tf.range(tf.shape(flat, out_type=tf.int64)[0]) == tf.gather(ids.row_starts(),
                                                                           rows)
        after_tag = tf.concat([[False], is_tag], axis=0)[:-1]
        start = first | is_tag | after_tag                  # each tag, and each run of text
        runs = tf.RaggedTensor.from_value_rowids(
            flat, tf.cumsum(tf.cast(start, tf.int64)) - 1, tf.reduce_sum(tf.cast(start, tf.int64)))
        texts = self.base.tf_decode(tf.ragged.boolean_mask(runs, runs < size))
        tag = tf.boolean_mask(flat, start) - size
        names = tf.constant([self.tag(i) for i in range(len(self.task_names))])
        tag_texts = tf.where(tag < len(self.task_names),
                             tf.gather(names, tf.clip_by_value(tag, 0, len(self.task_names) - 1)),
                             "<id:" + tf.strings.as_string(tag + size) + ">")
        texts = tf.where(tf.boolean_mask(is_tag, start), tag_texts, texts)
        keep = tf.not_equal(texts, "")
        parts = tf.RaggedTensor.from_value_rowids(
            tf.boolean_mask(texts, keep), tf.boolean_mask(tf.boolean_mask(rows, start), keep),
            ids.nrows())
        return tf.strings.reduce_join(parts, axis=-1, separator=" ")

    def tf_resources(self):
        return getattr(self.base, "tf_resources", lambda: [])()
