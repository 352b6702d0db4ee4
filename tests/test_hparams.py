"""t2tlike/hparams.py: a closed, typed, JSON-round-tripping set of hyperparameters."""
import pytest

from t2tlike import registry
from t2tlike.errors import UnknownNameError, UserError
from t2tlike.hparams import HParams, HParamsError, create_hparams, parse_overrides


def base():
    return HParams(hidden_size=512, learning_rate=0.1, optimizer="adam", use_fp16=False,
                   layer_sizes=[1, 2], schedule={"warmup": 100}, extra=None)


# -- reading ---------------------------------------------------------------------------
def test_attribute_access_and_dict_views():
    hp = base()
    assert hp.hidden_size == 512 and hp.optimizer == "adam" and hp.layer_sizes == [1, 2]
    assert "hidden_size" in hp and "nope" not in hp
    assert hp.get("nope", 7) == 7
    assert hp.keys() == sorted(["hidden_size", "learning_rate", "optimizer", "use_fp16",
                                "layer_sizes", "schedule", "extra"])
    values = hp.values()
    values["layer_sizes"].append(99)        # a copy: the hparams do not change
    assert hp.layer_sizes == [1, 2]


def test_unknown_attribute_raises_with_suggestion_and_hasattr_is_false():
    hp = base()
    with pytest.raises(HParamsError) as err:
        hp.hiden_size
    assert "unknown hparam 'hiden_size'" in str(err.value)
    assert "Did you mean: hidden_size" in str(err.value)
    assert isinstance(err.value, UserError) and isinstance(err.value, AttributeError)
    assert not hasattr(hp, "hiden_size")
    assert hasattr(hp, "hidden_size")
    assert getattr(hp, "nope", "default") == "default"


# -- setting (T2T style) ------------------------------------------------------------------
def test_attribute_assignment_sets_a_known_key_with_its_type():
    hp = base()
    hp.hidden_size = 64
    hp.learning_rate = 1          # int into a float key -> float
    hp.layer_sizes = (3, 4)       # tuple -> list
    hp.extra = "anything"         # a None key takes any data
    assert hp.hidden_size == 64
    assert hp.learning_rate == 1.0 and isinstance(hp.learning_rate, float)
    assert hp.layer_sizes == [3, 4]
    assert hp.extra == "anything"


@pytest.mark.parametrize("key, value", [
    ("hidden_size", "big"),
    ("hidden_size", 1.5),
    ("hidden_size", True),        # a bool is not an int here
    ("learning_rate", "fast"),
    ("use_fp16", 1),
    ("optimizer", 3),
    ("schedule", [1]),
])
def test_assignment_of_wrong_type_raises(key, value):
    hp = base()
    with pytest.raises(HParamsError) as err:
        setattr(hp, key, value)
    assert f"hparam '{key}' expects" in str(err.value)
    assert hp.get(key) == base().get(key)


def test_assignment_to_unknown_key_raises_and_points_to_add_hparam():
    hp = base()
    with pytest.raises(HParamsError) as err:
        hp.hidden_sise = 64
    assert "Did you mean: hidden_size" in str(err.value)
    assert "add_hparam('hidden_sise'" in str(err.value)
    assert "hidden_sise" not in hp


def test_values_must_be_data():
    with pytest.raises(HParamsError, match="must hold data"):
        HParams(fn=lambda: 1)
    with pytest.raises(HParamsError, match="must hold data"):
        HParams(nested=[1, object()])
    with pytest.raises(HParamsError, match="dict keys must be strings"):
        HParams(d={1: 2})


# -- add_hparam / del_hparam -----------------------------------------------------------------
def test_add_hparam():
    hp = base()
    hp.add_hparam("my_key", 3)
    assert hp.my_key == 3
    hp.my_key = 4
    assert hp.my_key == 4
    with pytest.raises(HParamsError, match="already exists"):
        hp.add_hparam("hidden_size", 1)
    with pytest.raises(HParamsError, match="invalid hparam name"):
        hp.add_hparam("1bad", 1)
    with pytest.raises(HParamsError, match="invalid hparam name"):
        hp.add_hparam("has-dash", 1)
    hp.del_hparam("my_key")
    assert "my_key" not in hp


# -- replace / copy / freeze -----------------------------------------------------------------
def test_replace_derives_a_new_set_in_one_step():
    hp = base()
    new = hp.replace(hidden_size=1024, optimizer="sgd")
    assert new.hidden_size == 1024 and new.optimizer == "sgd"
    assert hp.hidden_size == 512 and hp.optimizer == "adam"   # original unchanged
    assert new.learning_rate == hp.learning_rate
    with pytest.raises(HParamsError, match="Did you mean: hidden_size"):
        hp.replace(hiden_size=3)
    with pytest.raises(HParamsError, match="expects a int"):
        hp.replace(hidden_size="x")


def test_copy_is_equal_and_independent():
    hp = base()
    other = hp.copy()
    assert other == hp and other is not hp
    other.hidden_size = 1
    assert other != hp


def test_freeze_stops_every_change():
    hp = base().freeze()
    assert hp.frozen
    with pytest.raises(HParamsError, match="frozen"):
        hp.hidden_size = 64
    with pytest.raises(HParamsError, match="frozen"):
        hp.add_hparam("new_key", 1)
    with pytest.raises(HParamsError, match="frozen"):
        hp.del_hparam("hidden_size")
    assert hp.hidden_size == 512
    derived = hp.replace(hidden_size=64)        # deriving still works, and is not frozen
    assert derived.hidden_size == 64 and not derived.frozen
    assert hp.parse("hidden_size=32").hidden_size == 32


def test_freeze_also_protects_list_and_dict_values():
    hp = base().freeze()
    try:
        hp.layer_sizes.append(3)
    except (TypeError, AttributeError, HParamsError):
        pass
    try:
        hp.schedule["warmup"] = 5
    except (TypeError, HParamsError):
        pass
    assert hp.layer_sizes == [1, 2]
    assert hp.schedule == {"warmup": 100}


# -- parse -------------------------------------------------------------------------------
def test_parse_typed_values():
    hp = base()
    new = hp.parse("hidden_size=64,layer_sizes=[3, 4, 5],optimizer=sgd,use_fp16=true,"
                   "learning_rate=1e-3,extra=none")
    assert new.hidden_size == 64
    assert new.layer_sizes == [3, 4, 5]
    assert new.optimizer == "sgd"
    assert new.use_fp16 is True
    assert new.learning_rate == pytest.approx(1e-3)
    assert new.extra is None
    assert hp == base()                         # parse returns a new set


def test_parse_the_t2t_example():
    hp = HParams(a=0, b=[0], c="y")
    assert parse_overrides("a=1,b=[1,2],c=x", hp) == {"a": 1, "b": [1, 2], "c": "x"}
    assert hp.parse("a=1,b=[1,2],c=x").values() == {"a": 1, "b": [1, 2], "c": "x"}


def test_parse_details():
    hp = base()
    assert hp.parse("").values() == hp.values()
    assert hp.parse(" hidden_size = 8 , ").hidden_size == 8         # spaces, trailing comma
    assert hp.parse("hidden_size=16.0").hidden_size == 16             # integral float -> int
    assert hp.parse("learning_rate=2").learning_rate == 2.0
    assert hp.parse("use_fp16=False").use_fp16 is False
    assert hp.parse("layer_sizes=7").layer_sizes == [7]               # scalar -> 1-elem list
    assert hp.parse("layer_sizes=[a,b]").layer_sizes == ["a", "b"]    # bare words in a list
    assert hp.parse("optimizer='a,b'").optimizer == "a,b"             # quoted comma
    assert hp.parse("schedule={'warmup': 5}").schedule == {"warmup": 5}
    assert parse_overrides("x=1,y=[1,[2,3]]") == {"x": 1, "y": [1, [2, 3]]}   # unchecked


def test_parse_numeric_text_into_a_string_key():
    hp = HParams(broadcast_dims="", optimizer="adam")
    assert hp.parse("broadcast_dims=1").broadcast_dims == "1"
    assert hp.parse("optimizer=true").optimizer == "true"


@pytest.mark.parametrize("text, expected", [
    ("hidden_size=big", "expects a int"),
    ("hidden_size=1.5", "expects a int"),
    ("use_fp16=1", "expects a bool"),
    ("learning_rate=fast", "expects a float"),
    ("schedule=[1]", "expects a dict"),
])
def test_parse_type_errors(text, expected):
    with pytest.raises(HParamsError, match=expected):
        base().parse(text)


def test_parse_unknown_key_suggests():
    with pytest.raises(HParamsError) as err:
        base().parse("hidden_size=8,learning_rat=0.2")
    assert "unknown hparam 'learning_rat'" in str(err.value)
    assert "Did you mean: learning_rate" in str(err.value)


@pytest.mark.parametrize("text, expected", [
    ("hidden_size", "expected name=value"),
    ("hidden_size=1,optimizer", "malformed hparams entry 'optimizer'"),
    ("layer_sizes=[1,2", "unbalanced"),
    ("optimizer='adam", "unbalanced"),
    ("1bad=3", "malformed hparam name"),
    ("=3", "malformed hparam name"),
])
def test_parse_malformed_strings(text, expected):
    with pytest.raises(HParamsError, match=expected):
        base().parse(text)


# -- JSON ---------------------------------------------------------------------------------
def test_json_round_trip():
    hp = base().replace(layer_sizes=[1, 2, 3], schedule={"warmup": 5, "names": ["a", None]})
    hp.add_hparam("flag", True)
    text = hp.to_json()
    again = HParams.from_json(text)
    assert again == hp
    assert again.to_json() == text
    assert isinstance(again.learning_rate, float) and isinstance(again.hidden_size, int)
    assert again.flag is True


def test_repr_lists_keys_sorted():
    assert repr(HParams(b=1, a="x")) == "HParams(a='x', b=1)"


# -- create_hparams --------------------------------------------------------------------------
@pytest.fixture
def registered_set():
    name = "throwaway_hparams_for_test_hparams"

    @registry.register_hparams(name)
    def _set():
        return base()

    yield name
    registry.hparams_sets.unregister(name)


def test_create_hparams_applies_overrides(registered_set):
    hp = create_hparams(registered_set, "hidden_size=8,optimizer=sgd")
    assert hp.hidden_size == 8 and hp.optimizer == "sgd"
    assert not hp.frozen
    assert create_hparams(registered_set) == base()


def test_create_hparams_errors(registered_set):
    with pytest.raises(UnknownNameError, match="Did you mean"):
        create_hparams(registered_set + "x")
    with pytest.raises(HParamsError, match="Did you mean: hidden_size"):
        create_hparams(registered_set, "hidden_sze=8")

    name = "throwaway_not_hparams"
    registry.register_hparams(name)(lambda: {"hidden_size": 1})
    try:
        with pytest.raises(UserError, match="expected an HParams"):
            create_hparams(name)
    finally:
        registry.hparams_sets.unregister(name)
