"""TensorFlow Serving's config files, so a deployment's files work here unchanged:
`--model_config_file` (which models, where) and `--batching_parameters_file`. Both are
protobuf text format; the fields read are

    model_config_list { config { name: "ende" base_path: "/runs/ende/export"
                                 model_platform: "tensorflow" } ... }
    max_batch_size { value: 64 }  batch_timeout_micros { value: 10000 }
    num_batch_threads { value: 1 }

and any other field is refused with one message (silently ignoring, say, a version policy
would serve something else than the file asks for).
"""
import re

from t2tlike.errors import UserError

_TOKEN = re.compile(r'\s*(?:#[^\n]*\n?\s*)*(?:([A-Za-z_][\w.]*)|("(?:[^"\\]|\\.)*"|'
                    r"'(?:[^'\\]|\\.)*')|(-?\d+(?:\.\d*)?)|([{}:<>]))")
BATCHING_FIELDS = ("max_batch_size", "batch_timeout_micros", "num_batch_threads")


def parse_text_proto(text, where):
    """Protobuf text format -> {field: [values]} (a message is such a dict again)."""
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise UserError(f"{where}: cannot read the text near {text[pos:pos + 30]!r}; "
                            "expected protobuf text format (name: value, name { ... }).")
        pos = match.end()
        ident, string, number, punct = match.groups()
        if ident is not None:
            tokens.append(("ident", ident))
        elif string is not None:
            tokens.append(("value", string[1:-1].encode().decode("unicode_escape")))
        elif number is not None:
            tokens.append(("value", float(number) if "." in number else int(number)))
        elif punct is not None:
            tokens.append(("punct", {"<": "{", ">": "}"}.get(punct, punct)))

    def message(i, closing):
        fields = {}
        while i < len(tokens) and tokens[i] != ("punct", "}"):
            kind, name = tokens[i]
            if kind != "ident":
                raise UserError(f"{where}: expected a field name, got {name!r}.")
            i += 1
            if i < len(tokens) and tokens[i] == ("punct", ":"):
                i += 1
            if i < len(tokens) and tokens[i] == ("punct", "{"):
                value, i = message(i + 1, True)
            elif i < len(tokens) and tokens[i][0] in ("value", "ident"):
                value, i = tokens[i][1], i + 1
            else:
                raise UserError(f"{where}: field {name} has no value.")
            fields.setdefault(name, []).append(value)
        if closing:
            if i >= len(tokens):
                raise UserError(f"{where}: a '{{' is never closed.")
            i += 1
        elif i < len(tokens):
            raise UserError(f"{where}: an unmatched '}}'.")
        return fields, i

    return message(0, False)[0]


def _only(fields, allowed, where):
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise UserError(f"{where}: field(s) {unknown} are not supported here (read: "
                        f"{', '.join(allowed)}); t2t-serve serves each model's newest version.")


def models_from_config(text, where):
    """A model_config_file's text -> {name: base_path}."""
    top = parse_text_proto(text, where)
    _only(top, ["model_config_list"], where)
    models = {}
    for config_list in top.get("model_config_list", []):
        _only(config_list, ["config"], where)
        for config in config_list.get("config", []):
            _only(config, ["name", "base_path", "model_platform"], where)
            name, path = config.get("name", [None])[0], config.get("base_path", [None])[0]
            if not isinstance(name, str) or not isinstance(path, str):
                raise UserError(f"{where}: every config needs name: \"...\" and base_path: "
                                "\"...\".")
            if config.get("model_platform", ["tensorflow"])[0] != "tensorflow":
                raise UserError(f"{where}: model {name}: only model_platform "
                                "\"tensorflow\" is served.")
            if name in models:
                raise UserError(f"{where}: model name {name} is given twice.")
            models[name] = path
    if not models:
        raise UserError(f"{where}: no model_config_list {{ config {{ ... }} }} in the file.")
    return models


def batching_from_config(text, where):
    """A batching_parameters_file's text -> {max_batch_size, batch_timeout_micros,
    num_batch_threads} (the fields it sets)."""
    top = parse_text_proto(text, where)
    _only(top, BATCHING_FIELDS + ("max_enqueued_batches", "pad_variable_length_inputs"),
          where)
    found = {}
    for name in BATCHING_FIELDS:
        if name in top:
            wrapper = top[name][-1]
            value = wrapper.get("value", [None])[-1] if isinstance(wrapper, dict) else wrapper
            if not isinstance(value, int) or value < 0:
                raise UserError(f"{where}: {name} {{ value: N }} needs a whole number >= 0.")
            found[name] = value
    return found
