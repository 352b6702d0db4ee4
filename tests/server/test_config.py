"""TensorFlow Serving's config files: the fields t2t-serve reads, and one message for the
rest."""
import pytest

from t2tlike.errors import UserError
from t2tlike.server import config

MODELS = """
# two models
model_config_list {
  config {
    name: 'ende'
    base_path: "/runs/ende/export"
    model_platform: "tensorflow"
  }
  config < name: "lm" base_path: '/runs/lm/export' >
}
"""


def test_a_model_config_file_gives_each_name_its_base_path():
    assert config.models_from_config(MODELS, "models.config") == {
        "ende": "/runs/ende/export", "lm": "/runs/lm/export"}


def test_a_batching_parameters_file_gives_the_three_batching_numbers():
    text = ("max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\n"
            "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 100 }")
    assert config.batching_from_config(text, "batching.config") == {
        "max_batch_size": 32, "batch_timeout_micros": 2000, "num_batch_threads": 2}


@pytest.mark.parametrize("text, message", [
    ("model_config_list { config { name: 'a' base_path: '/a' "
     "model_version_policy { all {} } } }", "['model_version_policy'] are not supported"),
    ("model_config_list { config { name: 'a' } }", "needs name"),
    ("model_config_list { config { name: 'a' base_path: '/a' } config { name: 'a' "
     "base_path: '/b' } }", "given twice"),
    ("model_config_list { config { name: 'a' base_path: '/a' }", "never closed"),
    ("model_config_list { }", "no model_config_list"),
    ("model_config_list { config { name: 'a' base_path: '/a' model_platform: 'onnx' } }",
     "only model_platform"),
    ("model_config_list [ ]", "cannot read the text"),
])
def test_a_config_the_server_cannot_follow_is_one_message(text, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.models_from_config(text, "models.config")


def test_a_batching_value_that_is_not_a_count_is_one_message():
    with pytest.raises(UserError, match="whole number"):
        config.batching_from_config("max_batch_size { value: 'many' }", "b.config")
