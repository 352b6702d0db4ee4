"""Reserved ids and id lists, as every encoder, model and search sees them (T2T's).

Id 0 is padding (PAD_ID) and id 1 ends a sequence (EOS_ID); the text encoders of
data_generators reserve both. A model's inputs end in one EOS; its outputs are cut at
the first EOS before they are decoded back to text.

Plain Python on lists (or 1-D arrays) of ids; nothing here needs TensorFlow.
"""
PAD_ID = 0
EOS_ID = 1


def cut_at_eos(ids):
    """ids [length] (a list or a 1-D array) -> list of int: the ids before the first
    EOS, without padding. `[5, 0, 6, 1, 7]` -> `[5, 6]`."""
    out = []
    for i in ids:
        i = int(i)
        if i == EOS_ID:
            break
        if i != PAD_ID:
            out.append(i)
    return out


def input_ids(ids):
    """ids [length] of a stored example's inputs (EOS-terminated, maybe padded) -> list of
    int: the ids a model decodes from, cut at the first EOS and ended by exactly one EOS
    (what the decoder's encoding of a text line gives)."""
    return cut_at_eos(ids) + [EOS_ID]
