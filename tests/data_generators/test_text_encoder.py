"""data_generators/text_encoder.py: reserved ids, integer/byte/token/SentencePiece/class-label
encoders."""
import random

import numpy as np
import pytest

from data_generators import text_encoder
from data_generators.text_encoder import (ByteTextEncoder, ClassLabelEncoder,
                                          SentencePieceEncoder, TextEncoder, TokenTextEncoder)
from t2tlike.errors import UserError


def test_reserved_ids_are_pad_zero_and_eos_one():
    assert text_encoder.PAD_ID == 0 and text_encoder.EOS_ID == 1
    assert text_encoder.RESERVED_TOKENS == ["<pad>", "<EOS>"]
    assert text_encoder.NUM_RESERVED_TOKENS == 2


def test_strip_ids_and_cut_at_eos():
    assert text_encoder.strip_ids([3, 4, 1, 0, 0], [0, 1]) == [3, 4]
    assert text_encoder.strip_ids([0, 3, 0], [0]) == [0, 3]          # only trailing ones
    assert text_encoder.cut_at_eos([5, 0, 6, 1, 7, 0]) == [5, 6]
    assert text_encoder.cut_at_eos([5, 6]) == [5, 6]


# -- TextEncoder --------------------------------------------------------------------------
def test_text_encoder_round_trip():
    enc = TextEncoder()
    assert enc.encode("1 0 1") == [3, 2, 3]
    assert enc.decode([3, 2, 3]) == "1 0 1"
    assert enc.encode("  7   12 ") == [9, 14]
    assert enc.decode(enc.encode("9 8 7 0")) == "9 8 7 0"
    assert enc.encode("") == []


def test_text_encoder_reserved_ids_and_stripping():
    enc = TextEncoder()
    assert enc.decode_list([3, 1, 0]) == ["1", "<EOS>", "<pad>"]
    assert enc.decode([3, 2, 1, 0, 0], strip_extraneous=True) == "1 0"
    assert enc.num_reserved_ids == 2


@pytest.mark.parametrize("bad", ["1 0 x", "1,0,1", "1.5", "one"])
def test_text_encoder_bad_input_raises_user_error(bad):
    with pytest.raises(UserError) as err:
        TextEncoder().encode(bad)
    assert "space-separated integers" in str(err.value) and repr(bad) in str(err.value)


def test_text_encoder_vocab_size():
    assert TextEncoder(vocab_size=12).vocab_size == 12
    with pytest.raises(NotImplementedError):
        TextEncoder().vocab_size


# -- ByteTextEncoder ----------------------------------------------------------------------
@pytest.mark.parametrize("text", ["hello world", "héllo wörld ✓", "日本語のテキスト", "emoji 🙂!",
                                  ""])
def test_byte_encoder_round_trip_with_unicode(text):
    enc = ByteTextEncoder()
    ids = enc.encode(text)
    assert len(ids) == len(text.encode("utf-8"))
    assert all(2 <= i < enc.vocab_size for i in ids)
    assert enc.decode(ids) == text
    assert enc.decode(ids + [text_encoder.EOS_ID, 0, 0], strip_extraneous=True) == text


def test_byte_encoder_details():
    enc = ByteTextEncoder()
    assert enc.vocab_size == 258
    assert enc.encode("A") == [ord("A") + 2]
    assert enc.decode_list([ord("A") + 2, 1, 0]) == ["A", "<EOS>", "<pad>"]
    assert enc.decode([ord("h") + 2, 0, ord("i") + 2]) == "hi"       # reserved ids dropped


# -- TokenTextEncoder ---------------------------------------------------------------------
@pytest.fixture
def vocab_file(tmp_path):
    path = tmp_path / "vocab.tokens"
    path.write_text("<pad>\n<EOS>\nthe\ncat\n\nsat\n", encoding="utf-8")
    return path


def test_token_encoder_round_trip_and_oov(vocab_file):
    enc = TokenTextEncoder(str(vocab_file))
    # reserved tokens in the file are not repeated; <UNK> is appended
    assert enc.vocab_size == 2 + 3 + 1
    assert enc.encode("the cat sat") == [2, 3, 4]
    assert enc.decode([2, 3, 4]) == "the cat sat"
    assert enc.encode("the dog sat") == [2, 5, 4]
    assert enc.decode(enc.encode("the dog")) == "the <UNK>"
    assert enc.decode([2, 3, 1, 0], strip_extraneous=True) == "the cat"
    assert enc.decode_list([0, 1]) == ["<pad>", "<EOS>"]


def test_token_encoder_without_oov_token_raises(vocab_file):
    enc = TokenTextEncoder(str(vocab_file), replace_oov=None)
    assert enc.vocab_size == 5
    with pytest.raises(UserError, match="'dog' is not in the vocabulary"):
        enc.encode("the dog")


def test_token_encoder_missing_file_is_a_user_error(tmp_path):
    missing = tmp_path / "nope" / "vocab.txt"
    with pytest.raises(UserError) as err:
        TokenTextEncoder(str(missing))
    assert str(missing) in str(err.value) and "does not exist" in str(err.value)


# -- SentencePiece --------------------------------------------------------------------------
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "away", "blue", "green",
         "river", "stone", "light", "über", "café"]


def corpus(n=400, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(3, 9))) for _ in range(n)]


@pytest.fixture(scope="module")
def sp_encoder(tmp_path_factory):
    path = tmp_path_factory.mktemp("spm") / "sub" / "vocab.test.64.model"
    return text_encoder.build_sentencepiece(iter(corpus()), str(path), 64)


def test_sentencepiece_build_writes_the_model_atomically(sp_encoder):
    import os
    folder = os.path.dirname(sp_encoder.model_path)
    assert os.listdir(folder) == [os.path.basename(sp_encoder.model_path)]   # no temp dirs
    assert isinstance(sp_encoder, SentencePieceEncoder)
    assert 20 < sp_encoder.vocab_size <= 64


def test_sentencepiece_round_trip(sp_encoder):
    for line in corpus(20, seed=1) + ["café über the river"]:
        ids = sp_encoder.encode(line)
        assert ids and all(i > text_encoder.EOS_ID for i in ids)     # never PAD or EOS
        assert sp_encoder.decode(ids) == line
        assert sp_encoder.decode(ids + [text_encoder.EOS_ID, 0, 0], strip_extraneous=True) == line


def test_sentencepiece_reserved_ids(sp_encoder):
    assert sp_encoder.decode_list([0, 1]) == ["<pad>", "</s>"]
    assert sp_encoder.decode([0] + sp_encoder.encode("the cat") + [1]) == "the cat"
    # cut at the first EOS when stripping
    ids = sp_encoder.encode("the cat") + [1] + sp_encoder.encode("dog")
    assert sp_encoder.decode(ids, strip_extraneous=True) == "the cat"


def test_sentencepiece_reloads_from_file(sp_encoder):
    again = SentencePieceEncoder(sp_encoder.model_path)
    assert again.vocab_size == sp_encoder.vocab_size
    assert again.encode("the blue river") == sp_encoder.encode("the blue river")


def test_sentencepiece_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist; run t2t-datagen"):
        SentencePieceEncoder(str(tmp_path / "missing.model"))


# -- ClassLabelEncoder ----------------------------------------------------------------------
def test_class_label_encoder_round_trip():
    enc = ClassLabelEncoder(["negative", "neutral", "positive"])
    assert enc.vocab_size == 3
    assert enc.class_labels == ["negative", "neutral", "positive"]
    assert enc.encode("positive") == 2 and enc.encode(" negative\n") == 0   # an int, T2T's API
    # ids 0 and 1 are classes here, not PAD and EOS
    assert enc.decode(0) == "negative" and enc.decode([1]) == "neutral"
    assert enc.decode(np.array([2])) == "positive" and enc.decode(np.int64(1)) == "neutral"
    assert enc.decode_list([2, 0]) == ["positive", "negative"]
    for label in enc.class_labels:
        assert enc.decode(enc.encode(label)) == label


def test_class_label_encoder_from_file(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("sports\n\npolitics\nscience\n", encoding="utf-8")
    enc = ClassLabelEncoder(class_labels_fname=str(path))
    assert enc.class_labels == ["sports", "politics", "science"]
    with pytest.raises(UserError, match="does not exist"):
        ClassLabelEncoder(class_labels_fname=str(tmp_path / "missing.txt"))


def test_class_label_encoder_errors():
    enc = ClassLabelEncoder(["no", "yes"])
    with pytest.raises(UserError,
                       match=r"unknown class label 'maybe'; expected one of \['no', 'yes'\]"):
        enc.encode("maybe")
    with pytest.raises(UserError, match="class id 2 is out of range; this encoder has 2 classes"):
        enc.decode(2)
    with pytest.raises(UserError, match="a class label is one id; got 2 ids"):
        enc.decode([0, 1])
    with pytest.raises(UserError, match="exactly one of class_labels"):
        ClassLabelEncoder()
    with pytest.raises(UserError, match="repeated: \\['a'\\]"):
        ClassLabelEncoder(["a", "b", "a"])
    with pytest.raises(UserError, match="no class labels"):
        ClassLabelEncoder([])


def test_the_in_graph_class_label_decoder_equals_the_python_one():
    import tensorflow as tf
    enc = ClassLabelEncoder(["no", "yes", "maybe"])
    ids = tf.ragged.constant([[1], [0], [2]])
    assert enc.tf_decode(ids).numpy().tolist() == [b"yes", b"no", b"maybe"]
    assert [enc.decode(i) for i in ids.to_list()] == ["yes", "no", "maybe"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="class id out of range"):
        enc.tf_decode(tf.ragged.constant([[3]]))


@pytest.mark.parametrize("kind", ["integer", "byte", "sentencepiece", "token",
                                  "token_no_reserved"])
def test_the_in_graph_encoders_equal_the_python_ones(kind, sp_encoder, vocab_file):
    """What an exported SavedModel runs (tf_encode / tf_decode) gives the same ids and
    text as encode / decode."""
    import tensorflow as tf
    # Tokens: unknown words (the OOV id), the reserved tokens as words, str.split()'s
    # whitespace (tabs, no-break and ideographic spaces, U+001F), an empty line.
    words = ["the cat  sat", "dog\tthe\u00a0cat\u3000 <EOS> <pad>", "", " sat\x1fcat ",
             "<UNK> chat", "the\u200bcat"]
    encoder, lines = {
        "integer": (TextEncoder(), ["1 0 1 1", "7", "3 12 0"]),
        "byte": (ByteTextEncoder(), ["café", "a b", "ünï €"]),
        "sentencepiece": (sp_encoder, corpus(5, seed=2) + ["café über the river"]),
        "token": (TokenTextEncoder(str(vocab_file)), words),
        "token_no_reserved": (TokenTextEncoder(str(vocab_file), num_reserved_ids=0), words),
    }[kind]
    ids = encoder.tf_encode(tf.constant(lines))
    assert ids.to_list() == [encoder.encode(line) for line in lines]
    texts = encoder.tf_decode(ids).numpy()
    assert [t.decode("utf-8") for t in texts] == [encoder.decode(encoder.encode(line))
                                                  for line in lines]


def test_the_in_graph_token_encoder_without_an_oov_token_refuses_unknown_words(vocab_file):
    """As encode's UserError: the graph stops and names the unknown words."""
    import tensorflow as tf
    encoder = TokenTextEncoder(str(vocab_file), replace_oov=None)
    assert encoder.tf_encode(tf.constant(["the cat", "sat"])).to_list() == [[2, 3], [4]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)no OOV token is set.*dog"):
        encoder.tf_encode(tf.constant(["the dog", "cat"]))
    assert len(encoder.tf_resources()) == 2    # the tables an export tracks
