"""data_generators/task_tag_encoder.py: the in-graph TaskTagEncoder (an export of one task
of a multi-problem) equals encode / decode, and so does decoding/tasks.py's TaggedInputs
on it. The encoder is the toy multi-task world's (tests/conftest.py's tiny_multi)."""
import pytest
import tensorflow as tf

from t2tlike.decoding.tasks import TaggedInputs

LINES = ["1 0 1", "", "<task:tiny_algorithmic_identity_binary40> 0 1",
         "0 1 <task:tiny_algorithmic_reverse_binary40>1 1\u00a0 <task:tiny_algorithmic_"
         "identity_binary40>", "  1 1 0  ", "a <task:x\u00a0y> 1", "<task:>1",
         "<task:tiny_algorithmic_reverse_binary40>"]


@pytest.fixture(scope="module")
def encoder(tiny_multi):
    problem, data_dir = tiny_multi
    return problem.get_feature_encoders(data_dir)["inputs"]


def test_in_graph_encoding_equals_encode(encoder):
    assert encoder.tf_encode(tf.constant(LINES)).to_list() == [encoder.encode(s) for s in LINES]
    tagged = TaggedInputs(encoder, encoder.tag_id(1))
    assert tagged.tf_encode(tf.constant(LINES)).to_list() == [tagged.encode(s) for s in LINES]


def test_in_graph_decoding_equals_decode(encoder):
    size, (a, b) = encoder.base.vocab_size, [encoder.tag_id(i) for i in range(2)]
    ids = [[], [4, 5, 3], [a, 4, 4, b, b, 3], [5, b], [b + 1, 4], [a], [2, 4]]
    decoded = encoder.tf_decode(tf.ragged.constant(ids, tf.int32)).numpy()
    assert [t.decode("utf-8") for t in decoded] == [encoder.decode(i) for i in ids]
    assert size + 2 == encoder.vocab_size


def test_an_unknown_tag_stops_the_graph_naming_it(encoder):
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)unknown task tag.*<task:nope>"):
        encoder.tf_encode(tf.constant(["1 <task:nope> 0"]))
