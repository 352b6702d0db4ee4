"""Registries of problems, models, hparams sets, ranged hparams and modalities.

One `Registry` type, one instance per kind. Names default to the snake_case of the class
or function (`TranslateEndeWmt32k` -> `translate_ende_wmt32k`). Registering a second,
different object under a taken name raises and says where the first came from; looking
up an unknown name raises one `UnknownNameError` with up to three suggestions.

T2T's decorators keep their names and both forms work::

    @registry.register_problem              # name from the class
    @registry.register_hparams("my_set")    # explicit name

A second name for an entry is an alias, not a second registration::

    registry.problems.register_alias("translate_ende_wmt32k", "translate_ende")

Looking up an alias gives the target's entry itself, so `registry.problem(alias)` is the
target's problem: the same name (`problem.name` is the target's), the same vocabulary and
the same data files. Data generated under either name is found under both, which is the
point of an alias (T2T's name for one of our problems). `--registry_help` lists an alias
beside the names, as `alias -> target`.
"""
import inspect
import re

from t2tlike.errors import UnknownNameError, UserError, did_you_mean

_FIRST_CAP = re.compile(r"(.)([A-Z][a-z0-9]+)")
_ALL_CAP = re.compile(r"([a-z0-9])([A-Z])")

LIST_COMMAND = "t2t-trainer --registry_help"


def default_name(obj_or_name):
    """snake_case of a class or function name: `TranslateEndeWmt32k` -> `translate_ende_wmt32k`."""
    name = obj_or_name if isinstance(obj_or_name, str) else obj_or_name.__name__
    return _ALL_CAP.sub(r"\1_\2", _FIRST_CAP.sub(r"\1_\2", name)).lower()


def _origin(obj):
    try:
        path = inspect.getsourcefile(obj)
        _, line = inspect.getsourcelines(obj)
        return f"{path}:{line}"
    except (OSError, TypeError):
        return getattr(obj, "__module__", "<unknown>")


def _caller_origin():
    """file:line of the code that called the Registry method calling this."""
    frame = inspect.currentframe().f_back.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _same_definition(a, b):
    """True when b is a is, or is a re-import of, the same module-level definition."""
    return a is b or (getattr(a, "__module__", None) == getattr(b, "__module__", 1) and
                      getattr(a, "__qualname__", None) == getattr(b, "__qualname__", 2))


class Registry:
    """A name -> object map that is strict about duplicates and helpful about misses."""

    def __init__(self, kind, plural=None, decorator=None):
        self.kind = kind
        self.decorator = decorator or "register_" + kind.replace(" ", "_")
        self.plural = plural or kind + "s"
        self._entries = {}
        self._origins = {}
        self._aliases = {}   # alias -> the registered name it stands for
        self._prefixes = {}   # prefix -> (factory, usage line)
        self._composer = None   # (factory, usage line) for '+'-joined names

    def register(self, name_or_obj=None):
        """Decorator usable as `@reg.register`, `@reg.register()` or `@reg.register("name")`."""
        def add(obj, name=None):
            name = name or default_name(obj)
            if name in self._aliases:
                raise UserError(
                    f"{self.kind} '{name}' is already registered as an alias of "
                    f"'{self._aliases[name]}' (at {self._origins[name]}). Pick another name, "
                    f"e.g. @registry.{self.decorator}(\"{name}_v2\").")
            if name in self._entries and not _same_definition(self._entries[name], obj):
                raise UserError(
                    f"{self.kind} '{name}' is already registered (first registered at "
                    f"{self._origins[name]}; again at {_origin(obj)}). Pick another name, "
                    f"e.g. @registry.{self.decorator}(\"{name}_v2\").")
            self._entries[name] = obj
            self._origins[name] = _origin(obj)
            obj.registered_name = name if inspect.isclass(obj) else getattr(
                obj, "registered_name", name)
            return obj

        if callable(name_or_obj):
            return add(name_or_obj)
        return lambda obj: add(obj, name_or_obj)

    def register_alias(self, alias, name):
        """Makes `alias` another name of the registered `name` (see the module docstring).

        Strict: `name` must be registered (an alias of an alias stands for its target) and
        `alias` must be free; registering the same alias of the same name again is allowed
        (a module imported twice).
        """
        target = self._aliases.get(name, name)
        if target not in self._entries:
            raise UnknownNameError(
                f"cannot make '{alias}' an alias of unknown {self.kind} '{name}'."
                f"{did_you_mean(name, self._all_names())} Register '{name}' first (import "
                "its module before registering the alias).")
        if self._aliases.get(alias) == target:
            return alias
        if alias in self._entries or alias in self._aliases:
            first = (f" as an alias of '{self._aliases[alias]}'" if alias in self._aliases
                     else "")
            raise UserError(f"{self.kind} '{alias}' is already registered{first} (at "
                            f"{self._origins[alias]}); it cannot also be an alias of "
                            f"'{target}'. Pick another alias.")
        self._aliases[alias] = target
        self._origins[alias] = _caller_origin()
        return alias

    def get(self, name):
        name = self._aliases.get(name, name)
        if name not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'.{did_you_mean(name, self._all_names())} "
                f"List every registered {self.kind} with: {LIST_COMMAND}")
        return self._entries[name]

    __getitem__ = get

    def __contains__(self, name):
        return name in self._entries or name in self._aliases

    def names(self):
        """The registered names, sorted (aliases not included; see `aliases`)."""
        return sorted(self._entries)

    def aliases(self):
        """{alias: the registered name it stands for}."""
        return dict(self._aliases)

    def canonical_name(self, name):
        """The registered name that `name` (a name or an alias) stands for."""
        return self._aliases.get(name, name)

    def _all_names(self):
        return list(self._entries) + list(self._aliases)

    def register_prefix(self, prefix, factory, usage=""):
        """Names starting with `prefix` are made by `factory(name, was_reversed=...)`.

        For families of entries too many to register one by one (`tfds:<dataset>`). The
        module that defines the factory registers it when imported, so this module never
        imports it. `usage` is the line `--registry_help` shows for the family.
        """
        if prefix in self._prefixes and not _same_definition(self._prefixes[prefix][0], factory):
            raise UserError(f"{self.kind} prefix '{prefix}' is already registered (by "
                            f"{_origin(self._prefixes[prefix][0])}; again by {_origin(factory)}).")
        self._prefixes[prefix] = (factory, usage or prefix + "...")
        return factory

    def prefix_factory(self, name):
        """The factory registered for a prefix of `name`, or None."""
        for prefix, (factory, _) in self._prefixes.items():
            if name.startswith(prefix):
                return factory
        return None

    def prefix_usages(self):
        return sorted(usage for _, usage in self._prefixes.values())

    def register_composer(self, factory, usage=""):
        """Names joining entries with '+' are made by `factory(name, parts)`, `parts` being
        the objects looked up for each piece (see `problem`). One composer per registry;
        the module that defines it registers it when imported.
        """
        if self._composer and not _same_definition(self._composer[0], factory):
            raise UserError(f"a {self.kind} composer is already registered (by "
                            f"{_origin(self._composer[0])}; again by {_origin(factory)}).")
        self._composer = (factory, usage or "NAME+NAME")
        return factory

    @property
    def composer(self):
        """The factory for '+'-joined names, or None."""
        return self._composer[0] if self._composer else None

    def composer_usage(self):
        return self._composer[1] if self._composer else None

    def unregister(self, name):
        """Removes a name or an alias (for tests that register throw-away entries); removing
        a name removes its aliases too."""
        doomed = [name] + [a for a, target in self._aliases.items() if target == name]
        for key in doomed:
            self._entries.pop(key, None)
            self._aliases.pop(key, None)
            self._origins.pop(key, None)


problems = Registry("problem")
models = Registry("model")
hparams_sets = Registry("hparams set", "hparams sets", "register_hparams")
ranged_hparams_sets = Registry("ranged hparams set", "ranged hparams sets",
                               "register_ranged_hparams")
modalities = Registry("modality", "modalities")

register_problem = problems.register
register_model = models.register
register_hparams = hparams_sets.register
register_ranged_hparams = ranged_hparams_sets.register
register_modality = modalities.register

REVERSED_SUFFIX = "_rev"


COMPOSITION_SEPARATOR = "+"


def problem(name):
    """A new instance of the registered problem `name`; `name_rev` swaps inputs and targets.

    A name with a registered prefix (`tfds:...`) is made by that prefix's factory. Names
    joined by '+' (`a+b_rev+c`) make one multi-task problem of those problems, through
    the composer that data_generators/multi_problem.py registers; an unknown part raises
    the usual unknown-name error for that part. A '+' inside a prefixed part (a TFDS split
    expression such as `train=train+validation`) stays in that part: the part extends over
    the following '+' pieces until one that is a problem name.
    """
    if COMPOSITION_SEPARATOR in name and name not in problems:
        parts = composition_parts(name)
        if len(parts) > 1:
            return _composed_problem(name, parts)
    return _single_problem(name)


def composition_parts(name):
    """The problem names a '+'-joined `name` is made of (see `problem`)."""
    parts = []
    for piece in name.split(COMPOSITION_SEPARATOR):
        if parts and problems.prefix_factory(parts[-1]) and not _starts_a_problem(piece):
            parts[-1] += COMPOSITION_SEPARATOR + piece
        else:
            parts.append(piece)
    return parts


def _starts_a_problem(piece):
    base = piece[:-len(REVERSED_SUFFIX)] if piece.endswith(REVERSED_SUFFIX) else piece
    return (piece in problems or base in problems
            or problems.prefix_factory(piece) is not None)


def _composed_problem(name, parts):
    if not all(parts):
        raise UserError(f"problem '{name}': an empty name between '+' signs; expected "
                        "registered problem names joined by '+', e.g. "
                        "translate_ende_multi30k+translate_enfr_multi30k.")
    instances = []
    for part in parts:
        try:
            instances.append(_single_problem(part))
        except UnknownNameError as err:
            raise UnknownNameError(f"{err} (It is part of the problem composition "
                                   f"'{name}'.)") from None
    if problems.composer is None:
        raise UserError(f"problem '{name}': joining problems with '+' needs the multi-problem "
                        "support in data_generators/multi_problem.py; import "
                        "data_generators.all_problems (the CLIs do) or that module.")
    return problems.composer(name, instances)


def _single_problem(name):
    factory = problems.prefix_factory(name)
    if factory is not None:
        was_reversed = name.endswith(REVERSED_SUFFIX)
        return factory(name[:-len(REVERSED_SUFFIX)] if was_reversed else name,
                       was_reversed=was_reversed)
    base, was_reversed = name, False
    if name not in problems and name.endswith(REVERSED_SUFFIX):
        base, was_reversed = name[:-len(REVERSED_SUFFIX)], True
    try:
        cls = problems.get(base)
    except UnknownNameError:
        if was_reversed:
            problems.get(name)  # report the name as typed
        raise
    return cls(was_reversed=was_reversed)


def model(name):
    """The registered model class `name`."""
    return models.get(name)


def hparams(name):
    """The registered hparams-set function `name` (call it for an HParams)."""
    return hparams_sets.get(name)


def ranged_hparams(name):
    return ranged_hparams_sets.get(name)


def modality(name):
    """The registered modality class `name`."""
    return modalities.get(name)


def list_problems():
    return problems.names()


def list_models():
    return models.names()


def list_hparams():
    return hparams_sets.names()


def help_string():
    """Everything registered, grouped by kind, for `--registry_help`."""
    parts = []
    for reg in (problems, models, hparams_sets, ranged_hparams_sets, modalities):
        names = reg.names()
        parts.append(f"{reg.plural} ({len(names)}):")
        parts.extend(f"  {n}" for n in names)
        if reg.aliases():
            parts.append(f"{reg.kind} aliases (another name for the same entry):")
            parts.extend(f"  {alias} -> {target}"
                         for alias, target in sorted(reg.aliases().items()))
        if reg.prefix_usages():
            parts.append(f"{reg.kind} families (by name prefix):")
            parts.extend(f"  {usage}" for usage in reg.prefix_usages())
        if reg.composer_usage():
            parts.append(f"{reg.kind} compositions:")
            parts.append(f"  {reg.composer_usage()}")
    return "\n".join(parts)
