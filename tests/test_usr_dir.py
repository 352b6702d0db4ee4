"""t2tlike/usr_dir.py: the three --t2t_usr_dir forms and entry-point plugins."""
import sys
import textwrap
from importlib import metadata

import pytest

from t2tlike import registry, usr_dir
from t2tlike.errors import UserError

HPARAMS_MODULE = textwrap.dedent("""
    from t2tlike import registry
    from t2tlike.hparams import HParams

    @registry.register_hparams
    def {name}():
        return HParams(hidden_size=8)
""")


@pytest.fixture
def fresh_name(request):
    name = "usr_dir_test_" + request.node.name.replace("[", "_").replace("]", "")
    yield name
    registry.hparams_sets.unregister(name)


def test_single_file(tmp_path, fresh_name):
    path = tmp_path / f"{fresh_name}_mod.py"
    path.write_text(HPARAMS_MODULE.format(name=fresh_name))
    usr_dir.import_usr_dir(str(path))
    assert registry.hparams(fresh_name)().hidden_size == 8


def test_package_directory(tmp_path, fresh_name):
    pkg = tmp_path / f"{fresh_name}_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import sets\n")
    (pkg / "sets.py").write_text(HPARAMS_MODULE.format(name=fresh_name))
    assert usr_dir.import_usr_dir(str(pkg)) == [pkg.name]
    assert fresh_name in registry.hparams_sets


def test_folder_of_files(tmp_path, fresh_name):
    folder = tmp_path / "plain_folder"
    folder.mkdir()
    (folder / f"{fresh_name}_a.py").write_text(HPARAMS_MODULE.format(name=fresh_name))
    usr_dir.import_usr_dir(str(folder))
    assert fresh_name in registry.hparams_sets
    sys.path.remove(str(folder))


def test_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        usr_dir.import_usr_dir(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no __init__.py and no .py files"):
        usr_dir.import_usr_dir(str(tmp_path / "empty"))
    failing = tmp_path / "failing_user_module.py"
    failing.write_text("import no_such_module_anywhere\n")
    with pytest.raises(UserError, match="ModuleNotFoundError.*failing_user_module|"
                                        "failing_user_module.*ModuleNotFoundError"):
        usr_dir.import_usr_dir(str(failing))


def test_entry_point_plugins(monkeypatch, tmp_path, fresh_name):
    (tmp_path / f"{fresh_name}_plugin.py").write_text(
        HPARAMS_MODULE.format(name=fresh_name) + "\ndef register():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = metadata.EntryPoint(name="demo", value=f"{fresh_name}_plugin:register",
                             group=usr_dir.PLUGIN_GROUP)
    broken = metadata.EntryPoint(name="broken", value="no_such_plugin_module",
                                 group=usr_dir.PLUGIN_GROUP)
    monkeypatch.setattr(usr_dir.metadata, "entry_points", lambda group: [ep])
    assert usr_dir.load_plugins() == ["demo"]
    assert fresh_name in registry.hparams_sets
    monkeypatch.setattr(usr_dir.metadata, "entry_points", lambda group: [broken])
    with pytest.raises(UserError, match="plugin 'broken'"):
        usr_dir.load_plugins()
