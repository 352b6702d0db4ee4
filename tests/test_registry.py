"""t2tlike/registry.py: names, strict duplicates, helpful misses, `_rev` problems."""
import inspect
import os

import pytest

from data_generators.problem import Problem
from t2tlike import registry
from t2tlike.errors import UnknownNameError, UserError


@pytest.fixture
def throwaway():
    """Names registered through `throwaway(registry_obj, name)` are unregistered afterwards."""
    added = []

    def track(reg, name):
        added.append((reg, name))
        return name

    yield track
    for reg, name in added:
        reg.unregister(name)


@pytest.mark.parametrize("class_name, expected", [
    ("TranslateEndeWmt32k", "translate_ende_wmt32k"),
    ("AlgorithmicReverseBinary40", "algorithmic_reverse_binary40"),
    ("Transformer", "transformer"),
    ("ImageCifar10", "image_cifar10"),
    ("LSTMSeq2seq", "lstm_seq2seq"),
    ("already_snake", "already_snake"),
])
def test_default_name_is_snake_case(class_name, expected):
    assert registry.default_name(class_name) == expected
    assert registry.default_name(type(class_name, (), {})) == expected


def test_decorator_without_and_with_name():
    reg = registry.Registry("thing")

    @reg.register
    class MyFancyThing:
        pass

    @reg.register()
    def my_function():
        pass

    @reg.register("explicit_name")
    class Other:
        pass

    assert reg.get("my_fancy_thing") is MyFancyThing
    assert reg["my_function"] is my_function
    assert reg.get("explicit_name") is Other
    assert MyFancyThing.registered_name == "my_fancy_thing"
    assert Other.registered_name == "explicit_name"
    assert "other" not in reg
    assert reg.names() == ["explicit_name", "my_fancy_thing", "my_function"]


def test_global_decorators_register_problem_and_hparams(throwaway):
    @registry.register_problem
    class ThrowawayRegistryProblem(Problem):
        pass

    throwaway(registry.problems, "throwaway_registry_problem")

    @registry.register_hparams("throwaway_registry_hparams")
    def some_hparams_fn():
        return None

    throwaway(registry.hparams_sets, "throwaway_registry_hparams")

    assert "throwaway_registry_problem" in registry.list_problems()
    assert registry.hparams("throwaway_registry_hparams") is some_hparams_fn
    assert "throwaway_registry_hparams" in registry.list_hparams()
    help_text = registry.help_string()
    assert "  throwaway_registry_problem" in help_text
    assert "  throwaway_registry_hparams" in help_text


def test_duplicate_registration_of_a_different_object_says_where_the_first_came_from():
    reg = registry.Registry("model")

    @reg.register("taken")
    class First:
        pass

    class Second:
        pass

    with pytest.raises(UserError) as err:
        reg.register("taken")(Second)
    message = str(err.value)
    assert "'taken' is already registered" in message
    first_origin = f"{inspect.getsourcefile(First)}:{inspect.getsourcelines(First)[1]}"
    assert f"first registered at {first_origin}" in message
    assert "taken_v2" in message        # how to fix it
    assert reg.get("taken") is First    # the first registration is kept


def test_reregistering_the_same_definition_is_allowed():
    reg = registry.Registry("hparams set")

    def my_set():
        return 1

    reg.register(my_set)
    reg.register(my_set)          # e.g. a module imported twice
    assert reg.get("my_set") is my_set

    # A re-executed module defines a new object with the same module and qualname.
    clone = type("Clone", (), {"__module__": __name__, "__qualname__": "Clone"})
    clone_again = type("Clone", (), {"__module__": __name__, "__qualname__": "Clone"})
    reg.register(clone)
    reg.register(clone_again)
    assert reg.get("clone") is clone_again


def test_unknown_name_suggests_up_to_three_and_the_list_command():
    reg = registry.Registry("problem")
    for name in ["translate_ende_wmt8k", "translate_ende_wmt32k", "translate_enfr_wmt32k",
                 "translate_ende_wmt_bpe32k", "translate_ende_wmt16k", "image_mnist"]:
        reg.register(name)(type(name, (), {}))

    with pytest.raises(UnknownNameError) as err:
        reg.get("translate_ende_wmt32")
    message = str(err.value)
    assert isinstance(err.value, UserError) and isinstance(err.value, KeyError)
    assert message.startswith("unknown problem 'translate_ende_wmt32'.")
    assert "Did you mean: translate_ende_wmt32k" in message
    suggested = message.split("Did you mean: ")[1].split("?")[0].split(", ")
    assert 1 <= len(suggested) <= 3
    assert "image_mnist" not in suggested
    assert registry.LIST_COMMAND == "t2t-trainer --registry_help"
    assert "t2t-trainer --registry_help" in message
    # str() is the message itself, not KeyError's quoted repr
    assert not message.startswith('"')


def test_unknown_name_with_nothing_close_has_no_suggestion():
    reg = registry.Registry("model")
    reg.register("transformer")(type("T", (), {}))
    with pytest.raises(UnknownNameError) as err:
        reg.get("zzzzzz")
    assert "Did you mean" not in str(err.value)
    assert "t2t-trainer --registry_help" in str(err.value)


def test_global_lookup_helpers_raise_unknown_name_error():
    for lookup in (registry.problem, registry.model, registry.hparams,
                   registry.ranged_hparams, registry.modality):
        with pytest.raises(UnknownNameError):
            lookup("no_such_name_anywhere_42")


def test_problem_rev_returns_a_reversed_instance(throwaway):
    @registry.register_problem
    class ThrowawayRevProblem(Problem):
        pass

    throwaway(registry.problems, "throwaway_rev_problem")

    forward = registry.problem("throwaway_rev_problem")
    reversed_ = registry.problem("throwaway_rev_problem_rev")
    assert type(forward) is ThrowawayRevProblem and type(reversed_) is ThrowawayRevProblem
    assert not forward.was_reversed and reversed_.was_reversed
    assert forward.name == "throwaway_rev_problem"
    assert reversed_.name == "throwaway_rev_problem_rev"
    assert reversed_.dataset_filename() == "throwaway_rev_problem"
    assert registry.problem("throwaway_rev_problem") is not forward   # a new instance


def test_problem_registered_with_rev_suffix_is_not_reversed(throwaway):
    @registry.register_problem("throwaway_literal_rev")
    class Literal(Problem):
        pass

    throwaway(registry.problems, "throwaway_literal_rev")
    assert not registry.problem("throwaway_literal_rev").was_reversed


def test_unknown_rev_problem_reports_the_name_as_typed():
    with pytest.raises(UnknownNameError) as err:
        registry.problem("no_such_problem_xyz_rev")
    assert "'no_such_problem_xyz_rev'" in str(err.value)


def test_unregister_removes_the_name():
    reg = registry.Registry("thing")
    reg.register("gone")(type("Gone", (), {}))
    reg.unregister("gone")
    reg.unregister("never_there")       # no error
    assert "gone" not in reg
    reg.register("gone")(type("Other", (), {}))   # free to reuse


# -- aliases ------------------------------------------------------------------------------------
def test_an_alias_looks_up_its_target():
    reg = registry.Registry("model")
    target = reg.register("transformer")(type("T", (), {}))
    assert reg.register_alias("transformer_t2t", "transformer") == "transformer_t2t"
    assert reg.get("transformer_t2t") is target and reg["transformer_t2t"] is target
    assert "transformer_t2t" in reg
    assert reg.names() == ["transformer"]                       # names are not aliases
    assert reg.aliases() == {"transformer_t2t": "transformer"}
    assert reg.canonical_name("transformer_t2t") == "transformer"
    reg.register_alias("transformer_t2t", "transformer")         # the same again: allowed
    reg.register_alias("t2t_again", "transformer_t2t")           # of an alias: its target
    assert reg.aliases()["t2t_again"] == "transformer"
    assert target.registered_name == "transformer"


def test_aliases_are_strict():
    reg = registry.Registry("model")
    reg.register("transformer")(type("T", (), {}))
    reg.register("lstm")(type("L", (), {}))
    with pytest.raises(UnknownNameError, match="alias of unknown model 'transformr'.*"
                                               "Did you mean: transformer"):
        reg.register_alias("my_alias", "transformr")
    with pytest.raises(UserError, match="model 'lstm' is already registered .*test_registry"):
        reg.register_alias("lstm", "transformer")
    reg.register_alias("short", "transformer")
    with pytest.raises(UserError, match="'short' is already registered as an alias of "
                                        "'transformer'"):
        reg.register_alias("short", "lstm")
    with pytest.raises(UserError, match="'short' is already registered as an alias"):
        reg.register("short")(type("S", (), {}))
    assert reg.get("short") is reg.get("transformer")
    with pytest.raises(UnknownNameError, match="Did you mean: short"):
        reg.get("shortt")                                       # aliases are suggested too
    reg.unregister("transformer")                               # and take their aliases along
    assert "short" not in reg and reg.aliases() == {}


def test_a_problem_alias_is_the_target_problem_with_its_files(throwaway, tmp_path):
    import helpers
    cls = helpers.tiny_problem_class(name="ThrowawayAliasTarget")
    registry.register_problem(cls)
    throwaway(registry.problems, "throwaway_alias_target")
    registry.problems.register_alias("throwaway_alias_t2t_name", "throwaway_alias_target")
    by_alias = registry.problem("throwaway_alias_t2t_name")
    assert type(by_alias) is cls and by_alias.name == "throwaway_alias_target"
    assert registry.problem("throwaway_alias_t2t_name_rev").name == \
        "throwaway_alias_target_rev"
    # Generated under the alias, read under the alias and under the target's name.
    helpers.generate_tiny_data(tmp_path, by_alias)
    files = registry.problem("throwaway_alias_t2t_name").data_files(str(tmp_path), "train")
    assert files == registry.problem("throwaway_alias_target").data_files(str(tmp_path), "train")
    assert all(os.path.basename(f).startswith("throwaway_alias_target-train-") for f in files)
    help_text = registry.help_string()
    assert "  throwaway_alias_t2t_name -> throwaway_alias_target\n" in help_text + "\n"
    assert "  throwaway_alias_t2t_name\n" not in help_text


def test_the_t2t_name_translate_ende_wmt32k_is_an_alias():
    from data_generators import translate_ende  # noqa: F401
    assert registry.problems.aliases()["translate_ende_wmt32k"] == "translate_ende"
    assert type(registry.problem("translate_ende_wmt32k")) is translate_ende.TranslateEnde
    assert "  translate_ende_wmt32k -> translate_ende" in registry.help_string()


# -- '+' composition (the composer comes from data_generators/multi_problem.py) -----------------
def test_plus_joined_names_compose_one_multi_problem():
    from data_generators import algorithmic  # noqa: F401  (registers the parts)
    from data_generators.multi_problem import MultiProblem
    name = "algorithmic_reverse_binary40+algorithmic_identity_binary40_rev"
    problem = registry.problem(name)
    assert isinstance(problem, MultiProblem)
    assert problem.name == name
    assert problem.dataset_filename() == \
        "algorithmic_reverse_binary40__algorithmic_identity_binary40_rev"
    assert [t.name for t in problem.tasks] == ["algorithmic_reverse_binary40",
                                               "algorithmic_identity_binary40_rev"]
    assert [t.was_reversed for t in problem.tasks] == [False, True]
    # Plain and `_rev` lookups are unchanged.
    assert not registry.problem("algorithmic_reverse_binary40").was_reversed
    assert registry.problem("algorithmic_reverse_binary40_rev").was_reversed


def test_an_unknown_part_of_a_composition_raises_the_usual_error_for_that_part():
    from data_generators import algorithmic, multi_problem  # noqa: F401
    with pytest.raises(UnknownNameError) as err:
        registry.problem("algorithmic_reverse_binary40+algoritmic_identity_binary40")
    message = str(err.value)
    assert message.startswith("unknown problem 'algoritmic_identity_binary40'.")
    assert "Did you mean: algorithmic_identity_binary40" in message
    assert registry.LIST_COMMAND in message
    assert "composition 'algorithmic_reverse_binary40+algoritmic_identity_binary40'" in message
    with pytest.raises(UnknownNameError, match="unknown problem 'nope_rev'"):
        registry.problem("algorithmic_reverse_binary40+nope_rev")
    with pytest.raises(UserError, match="empty name between"):
        registry.problem("algorithmic_reverse_binary40+")


def test_a_name_registered_with_a_plus_is_looked_up_as_it_is(throwaway):
    @registry.register_problem("throwaway_a+b")
    class Literal(Problem):
        pass

    throwaway(registry.problems, "throwaway_a+b")
    assert type(registry.problem("throwaway_a+b")) is Literal


def test_a_plus_inside_a_prefixed_part_stays_in_that_part():
    from data_generators import algorithmic, tfds_problem  # noqa: F401  (tfds: prefix)
    assert registry.composition_parts(
        "tfds:glue/sst2?train=train+validation+algorithmic_reverse_binary40_rev") == [
        "tfds:glue/sst2?train=train+validation", "algorithmic_reverse_binary40_rev"]
    assert registry.composition_parts("algorithmic_reverse_binary40+tfds:imdb_reviews") == [
        "algorithmic_reverse_binary40", "tfds:imdb_reviews"]


def test_composition_without_the_composer_says_what_to_import(monkeypatch):
    from data_generators import algorithmic  # noqa: F401
    monkeypatch.setattr(registry.problems, "_composer", None)
    with pytest.raises(UserError, match="import data_generators.all_problems"):
        registry.problem("algorithmic_reverse_binary40+algorithmic_identity_binary40")
