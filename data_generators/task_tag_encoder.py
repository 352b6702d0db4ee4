"""TaskTagEncoder: a MultiProblem's vocabulary, a shared text encoder plus one tag id per
task (`<task:NAME>` as text) after the shared encoder's last id."""
import re

from data_generators.text_encoder import TextEncoder
from t2tlike.decoding.ids import cut_at_eos
from t2tlike.errors import UserError

TAG_FORMAT = "<task:{}>"
_TAG = re.compile(r"(<task:[^>\s]+>)")


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
