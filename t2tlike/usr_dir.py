"""Loading user code that registers problems, models and hparams sets.

`import_usr_dir(path)` imports a package directory (one with __init__.py), a plain
directory of .py files, or a single .py file, so its @registry decorators run. Installed
packages register through the entry-point group "t2tlike.plugins" (`load_plugins`).
"""
import importlib
import importlib.util
import os
import sys
from importlib import metadata

from t2tlike.errors import UserError

PLUGIN_GROUP = "t2tlike.plugins"


def _import_file(path, module_name):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def import_usr_dir(usr_dir):
    """Imports the user's module(s) at `usr_dir`; returns the imported module names."""
    path = os.path.abspath(os.path.expanduser(usr_dir)).rstrip(os.sep)
    if not os.path.exists(path):
        raise UserError(f"--t2t_usr_dir {usr_dir} does not exist. Point it at a directory "
                        "(a Python package or a folder of .py files) or a .py file that "
                        "registers your problems, models or hparams sets.")
    try:
        if os.path.isfile(path):
            if not path.endswith(".py"):
                raise UserError(f"--t2t_usr_dir {usr_dir} is a file but not a .py file.")
            name = os.path.splitext(os.path.basename(path))[0]
            _import_file(path, name)
            return [name]
        parent, name = os.path.split(path)
        if os.path.exists(os.path.join(path, "__init__.py")):
            if parent not in sys.path:
                sys.path.insert(0, parent)
            importlib.import_module(name)
            return [name]
        names = []
        if path not in sys.path:
            sys.path.insert(0, path)
        for fname in sorted(os.listdir(path)):
            if fname.endswith(".py") and not fname.startswith("_"):
                names.append(fname[:-3])
                importlib.import_module(fname[:-3])
        if not names:
            raise UserError(f"--t2t_usr_dir {usr_dir} holds no __init__.py and no .py files.")
        return names
    except UserError:
        raise
    except Exception as e:  # the user's own code failed to import
        where = ""
        tb = e.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.startswith(path):
                where = f" ({tb.tb_frame.f_code.co_filename}:{tb.tb_lineno})"
            tb = tb.tb_next
        if isinstance(e, SyntaxError):
            where = f" ({e.filename}:{e.lineno})"
        raise UserError(f"importing --t2t_usr_dir {usr_dir} failed{where}: "
                        f"{type(e).__name__}: {e}") from e


def load_plugins():
    """Loads every installed entry point in the group 't2tlike.plugins'."""
    loaded = []
    for ep in metadata.entry_points(group=PLUGIN_GROUP):
        try:
            target = ep.load()
            if ep.attr and callable(target):   # "module:function" registers by calling it
                target()
        except Exception as e:
            raise UserError(f"loading the t2tlike plugin '{ep.name}' ({ep.value}) failed: "
                            f"{type(e).__name__}: {e}. Fix or uninstall that package.") from e
        loaded.append(ep.name)
    return loaded
