"""HParams: a closed, typed set of hyperparameters.

The keys are fixed when the set is built; each key keeps the type of its first value.
Reading or writing an unknown key raises with a suggestion, `parse("a=1,b=[1,2],c=x")`
checks types, `replace(...)` derives a new set in one step, and `to_json`/`from_json`
round-trip it. Values are data only (numbers, strings, bools, None, lists, dicts of
those), so every run's hparams can be written to output_dir and read back.

A model family's root set adds its keys in one step, `basic_params1().extend(pos=...)`,
and derived sets only `replace`. T2T's habits keep working in hparams functions:
`hp.hidden_size = 64` sets a known key and `hp.add_hparam("my_key", 3)` adds one. Once
`freeze()` is called (t2t-trainer does so after applying overrides) nothing changes.
"""
import ast
import json
import re

from t2tlike.errors import UserError, did_you_mean

_SCALARS = (bool, int, float, str, type(None))


class HParamsError(UserError, AttributeError):
    """A bad hparams key or value (also an AttributeError so `hasattr` keeps working)."""


def _type_name(value):
    return "list" if isinstance(value, (list, tuple)) else type(value).__name__


def _check_data(name, value):
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_data(name, v)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise HParamsError(f"hparam '{name}': dict keys must be strings, got {k!r}.")
            _check_data(name, v)
    elif not isinstance(value, _SCALARS):
        raise HParamsError(
            f"hparam '{name}' must hold data (number, string, bool, None, list or dict), "
            f"got {type(value).__name__}. Store a registered name instead of an object.")


def _coerce(name, old, new):
    """Returns `new` converted to the type of `old`, or raises HParamsError."""
    _check_data(name, new)
    if old is None or new is None:
        return new
    if isinstance(old, bool):
        if isinstance(new, bool):
            return new
    elif isinstance(old, int):
        if isinstance(new, int) and not isinstance(new, bool):
            return new
        if isinstance(new, float) and new.is_integer():
            return int(new)
    elif isinstance(old, float):
        if isinstance(new, (int, float)) and not isinstance(new, bool):
            return float(new)
    elif isinstance(old, str):
        if isinstance(new, str):
            return new
    elif isinstance(old, (list, tuple)):
        if isinstance(new, (list, tuple)):
            return list(new)
        if isinstance(new, _SCALARS):  # `a=3` for a list key means a one-element list
            return [new]
    elif isinstance(old, dict):
        if isinstance(new, dict):
            return dict(new)
    raise HParamsError(
        f"hparam '{name}' expects a {_type_name(old)} (current value {old!r}), "
        f"got {new!r} ({_type_name(new)}).")


def _split_top_level(text):
    """Splits 'a=1,b=[1,2],c=x' on the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    if depth != 0 or quote:
        raise HParamsError(f"malformed hparams string {text!r}: unbalanced brackets or quotes. "
                           "Expected comma-separated name=value pairs, e.g. "
                           "'hidden_size=64,layer_sizes=[1,2],optimizer=adam'.")
    return [p.strip() for p in parts if p.strip()]


def _literal(text):
    """Parses a value as written on the command line; bare words are strings."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if text.startswith("["):
            inner = text[1:-1].strip() if text.endswith("]") else None
            if inner is None:
                raise HParamsError(f"malformed list value {text!r}; expected e.g. [1,2,3].")
            return [_literal(p) for p in _split_top_level(inner)]
        return text
    if isinstance(value, tuple):
        value = list(value)
    return value


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class HParams:
    """A closed set of typed hyperparameters; see the module docstring."""

    def __init__(self, **values):
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_frozen", False)
        for name, value in values.items():
            self.add_hparam(name, value)

    # -- reading -------------------------------------------------------------------
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        values = object.__getattribute__(self, "_values")
        if name in values:
            value = values[name]
            if isinstance(value, (list, dict)) and object.__getattribute__(self, "_frozen"):
                return json.loads(json.dumps(value))   # a frozen set hands out copies
            return value
        raise HParamsError(f"unknown hparam '{name}'.{did_you_mean(name, values)}")

    def get(self, name, default=None):
        return self._values.get(name, default)

    def __contains__(self, name):
        return name in self._values

    def values(self):
        """A copy of the name -> value dict."""
        return json.loads(json.dumps(self._values))

    def keys(self):
        return sorted(self._values)

    def __eq__(self, other):
        return isinstance(other, HParams) and self._values == other._values

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(self._values.items()))
        return f"HParams({inner})"

    # -- building ------------------------------------------------------------------
    def _check_mutable(self, what):
        if self._frozen:
            raise HParamsError(f"cannot {what}: these hparams are frozen. Derive a new set "
                               "with hp.replace(...) instead.")

    def add_hparam(self, name, value):
        """Adds a new key (T2T's `add_hparam`); adding an existing key raises."""
        self._check_mutable(f"add hparam '{name}'")
        if not _NAME.match(str(name)):
            raise HParamsError(f"invalid hparam name {name!r}: use letters, digits and _.")
        if name in self._values:
            raise HParamsError(f"hparam '{name}' already exists (value {self._values[name]!r}); "
                               f"set it with hp.{name} = ... instead of add_hparam.")
        _check_data(name, value)
        self._values[name] = list(value) if isinstance(value, tuple) else value

    def set_hparam(self, name, value):
        self._check_mutable(f"set hparam '{name}'")
        if name not in self._values:
            raise HParamsError(
                f"unknown hparam '{name}'.{did_you_mean(name, self._values)} "
                f"To add a new key use hp.add_hparam('{name}', value).")
        self._values[name] = _coerce(name, self._values[name], value)

    def __setattr__(self, name, value):
        self.set_hparam(name, value)

    def del_hparam(self, name):
        self._check_mutable(f"delete hparam '{name}'")
        self._values.pop(name, None)

    def replace(self, **changes):
        """A new HParams equal to this one with `changes` applied (keys must exist)."""
        new = HParams(**self.values())
        for name, value in changes.items():
            new.set_hparam(name, value)
        return new

    def extend(self, **new_keys):
        """A new HParams with `new_keys` added (none may exist yet): how a model family's
        root set adds its own keys in one step, e.g. `basic_params1().extend(pos="timing")`."""
        new = HParams(**self.values())
        for name, value in new_keys.items():
            new.add_hparam(name, value)
        return new

    def copy(self):
        return HParams(**self.values())

    def freeze(self):
        object.__setattr__(self, "_frozen", True)
        return self

    @property
    def frozen(self):
        return self._frozen

    def parse(self, text):
        """A new HParams with 'a=1,b=[1,2],c=x' applied; unknown keys and bad types raise."""
        return self.replace(**parse_overrides(text, self))

    # -- serialisation -------------------------------------------------------------
    def to_json(self, indent=2):
        return json.dumps(self._values, indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))


def parse_overrides(text, hparams=None):
    """'a=1,b=[1,2],c=x' -> {'a': 1, 'b': [1, 2], 'c': 'x'}, checked against `hparams`."""
    result = {}
    for part in _split_top_level(text or ""):
        if "=" not in part:
            raise HParamsError(
                f"malformed hparams entry {part!r} in {text!r}: expected name=value pairs "
                "separated by commas, e.g. 'hidden_size=64,num_heads=4'.")
        name, raw = (s.strip() for s in part.split("=", 1))
        if not _NAME.match(name):
            raise HParamsError(f"malformed hparam name {name!r} in {text!r}.")
        value = _literal(raw)
        if hparams is not None:
            if name not in hparams:
                raise HParamsError(f"unknown hparam '{name}' in {text!r}."
                                   f"{did_you_mean(name, hparams.keys())}")
            if isinstance(hparams.get(name), str) and not isinstance(value, (str, type(None))):
                value = raw   # a text key takes the text as typed ("dims=1" -> "1")
            value = _coerce(name, hparams.get(name), value)
        result[name] = value
    return result


def create_hparams(set_name, overrides=""):
    """The registered set `set_name` with the 'a=1,b=2' `overrides` applied (not frozen)."""
    from t2tlike import registry
    hp = registry.hparams(set_name)()
    if not isinstance(hp, HParams):
        raise UserError(f"hparams set '{set_name}' returned {type(hp).__name__}, "
                        "expected an HParams.")
    return hp.parse(overrides) if overrides else hp
