import math

import pytest

from t2tlike.errors import UserError
from t2tlike.hparams import create_hparams
from t2tlike.training import learning_rate


def test_parse_factors_validates_names():
    assert learning_rate.parse_factors("constant*linear_warmup") == ["constant", "linear_warmup"]
    with pytest.raises(UserError, match="rsqrt_decay"):
        learning_rate.parse_factors("constant*rsqrt_decy")
    with pytest.raises(UserError, match="empty"):
        learning_rate.parse_factors("")


def test_transformer_base_schedule_matches_the_formula():
    import t2tlike.models  # noqa: F401
    hp = create_hparams("transformer_base")
    schedule = learning_rate.learning_rate_schedule(hp)
    for step in (1, 4000, 8000, 20000):
        expected = 2.0 * min(1.0, step / 8000) / math.sqrt(max(step, 8000)) / math.sqrt(512)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5)


def test_decay_factors():
    s = learning_rate.FactorSchedule("constant*linear_decay", constant=1.0, decay_steps=100,
                                     train_steps=1000)
    assert float(s(0)) == pytest.approx(1.0)
    assert float(s(950)) == pytest.approx(0.5)
    assert float(s(2000)) == 0.0
    cos = learning_rate.FactorSchedule("cosdecay", train_steps=100)
    assert float(cos(50)) == pytest.approx(0.5, abs=1e-6)
    exp = learning_rate.FactorSchedule("exp_decay", warmup_steps=10, decay_steps=10,
                                       decay_rate=0.5)
    assert float(exp(30)) == pytest.approx(0.25)
    norm = learning_rate.FactorSchedule("rsqrt_normalized_decay", warmup_steps=100)
    assert float(norm(50)) == pytest.approx(1.0) and float(norm(400)) == pytest.approx(0.5)


def test_schedule_config_round_trip():
    s = learning_rate.FactorSchedule("constant*linear_warmup", constant=3.0, warmup_steps=10)
    again = learning_rate.FactorSchedule(**s.get_config())
    assert float(again(5)) == pytest.approx(float(s(5))) == pytest.approx(1.5)
