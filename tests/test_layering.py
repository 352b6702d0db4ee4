"""The import graph runs one way (docs/architecture.md, "Layers"): a module of t2tlike
imports only modules of its own level or below, t2tlike never imports data_generators, and
data_generators uses only the base of t2tlike (and the ids of decoding)."""
import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

# Lowest first. A module's level is that of the longest prefix listed.
LEVELS = [
    ("t2tlike.errors", "t2tlike.files", "t2tlike.checkpoints", "t2tlike.registry", "t2tlike.hparams",
     "t2tlike.precision", "t2tlike.input_pipeline", "t2tlike.metrics", "t2tlike.run_config",
     "t2tlike.tracing", "t2tlike.usr_dir"),
    ("t2tlike.layers",),
    ("t2tlike.decoding.ids", "t2tlike.decoding.top_k", "t2tlike.decoding.beam_search",
     "t2tlike.decoding.search"),
    ("t2tlike.t2t_model",),
    ("t2tlike.models",),
    ("t2tlike.decoding.decoder", "t2tlike.decoding.tasks", "t2tlike.export", "t2tlike.ctranslate2_export",
     "t2tlike.serving", "t2tlike.server"),
    ("t2tlike.training",),
]
DATA_SIDE_MAY_USE = LEVELS[0] + ("t2tlike.decoding.ids",)


def _level(module):
    best = None
    for level, prefixes in enumerate(LEVELS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and \
                    (best is None or len(prefix) > len(best[1])):
                best = (level, prefix)
    return None if best is None else best[0]


def _imports(path):
    """The modules a file imports ("from a import b" gives a.b when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                module_file = REPO / (full.replace(".", "/") + ".py")
                package = REPO / full.replace(".", "/")
                found.add(full if module_file.exists() or package.is_dir() else node.module)
    return found


def _modules(package):
    for path in sorted((REPO / package).rglob("*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path


@pytest.mark.parametrize("module, path", list(_modules("t2tlike")), ids=lambda x: str(x))
def test_t2tlike_imports_run_one_way(module, path):
    own = _level(module)
    if module in ("t2tlike", "t2tlike.decoding", "t2tlike.training", "t2tlike.layers",
                  "t2tlike.models", "t2tlike.server"):
        return   # package __init__ files
    assert own is not None, f"{module} has no level in LEVELS; add it"
    for imported in _imports(path):
        assert not imported.startswith("data_generators"), \
            f"{module} imports {imported}: t2tlike never imports data_generators"
        level = _level(imported) if imported.startswith("t2tlike.") else None
        assert level is None or level <= own, \
            f"{module} (level {own}) imports {imported} (level {level}): an arrow back up"


@pytest.mark.parametrize("module, path", list(_modules("data_generators")),
                         ids=lambda x: str(x))
def test_the_data_side_uses_only_the_base_of_t2tlike(module, path):
    for imported in _imports(path):
        if imported.startswith("t2tlike"):
            assert any(imported == p or imported.startswith(p + ".")
                       for p in DATA_SIDE_MAY_USE + ("t2tlike",)), \
                f"{module} imports {imported}; the data side may use {DATA_SIDE_MAY_USE}"


def test_an_upward_import_is_caught(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from t2tlike.training import trainer\nimport data_generators.problem\n")
    assert {"t2tlike.training.trainer", "data_generators.problem"} <= _imports(bad)
    assert _level("t2tlike.training.trainer") > _level("t2tlike.layers.attention")
