import json

import pytest

import t2tlike.models  # noqa: F401
from t2tlike.errors import UserError
from t2tlike import run_config


def test_fresh_run_uses_set_and_overrides(tmp_path):
    hp = run_config.resolve(str(tmp_path), "p", "transformer", "transformer_tiny",
                            "hidden_size=64")
    assert hp.hidden_size == 64


def test_restart_reuses_stored_and_refuses_conflicts(tmp_path):
    hp = run_config.resolve(str(tmp_path), "p", "transformer", "transformer_tiny", "num_heads=2")
    run_config.save(str(tmp_path), hp, "p", "transformer", "transformer_tiny", "num_heads=2")
    assert json.loads((tmp_path / "run.json").read_text())["hparams_set"] == "transformer_tiny"
    again = run_config.resolve(str(tmp_path), "p", "transformer", "transformer_tiny", "")
    assert again.num_heads == 2        # stored value, although the set says 4
    same = run_config.resolve(str(tmp_path), "p", "transformer", "transformer_tiny", "num_heads=2")
    assert same == again
    with pytest.raises(UserError, match="num_heads=2 \\(stored\\) vs 8"):
        run_config.resolve(str(tmp_path), "p", "transformer", "transformer_tiny", "num_heads=8")
    with pytest.raises(UserError, match="--model=transformer"):
        run_config.resolve(str(tmp_path), "p", "lstm_seq2seq", "transformer_tiny", "")


def test_restart_of_a_run_older_than_a_new_hparam_takes_its_default(tmp_path):
    hp = run_config.resolve(str(tmp_path), "p", "transformer", "transformer_tiny", "")
    run_config.save(str(tmp_path), hp, "p", "transformer", "transformer_tiny", "")
    stored = json.loads((tmp_path / "hparams.json").read_text())
    del stored["max_consecutive_skipped_steps"]       # a run saved before the key existed
    (tmp_path / "hparams.json").write_text(json.dumps(stored))
    again = run_config.resolve(str(tmp_path), "p", "transformer", "transformer_tiny", "")
    assert again.max_consecutive_skipped_steps == 20 and again == hp
