"""The tools' text files: read with one clear error, written so that no reader (nor a
later run) ever sees one half written.

`atomic_write` puts the content in `<path>.tmp` in the same folder, then renames it over
`path` (a rename within one filesystem is atomic): `path` holds either its old content or
all of the new one, and an interrupted write leaves no `.tmp` behind.

`read_text` / `read_lines` read a UTF-8 file whole or a line at a time, with one clear
error for a missing file or bytes that are not UTF-8. `folder_lock` keeps a second tool
run out of a folder another one is writing. `PY_WHITESPACE` is what Python's str.strip()
and str.split() treat as whitespace, for TensorFlow's RE2 string ops (whose \\s is ASCII).
"""
import contextlib
import fcntl
import os

from t2tlike.errors import UserError

TMP_SUFFIX = ".tmp"
# str.isspace()'s characters (none is above U+3000) as an RE2 class body, and one run of them
PY_SPACE_CHARS = "".join(f"\\x{{{c:x}}}" for c in range(0x3001) if chr(c).isspace())
PY_WHITESPACE = f"[{PY_SPACE_CHARS}]+"


def default_tmp_dir():
    """Datagen's default --tmp_dir (downloads, raw files): in this user's cache folder,
    `$XDG_CACHE_HOME/t2tlike/datagen` (default `~/.cache/...`), not a shared, predictable
    path under /tmp where another user could plant files first."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "t2tlike", "datagen")


def atomic_write(path, content):
    """Writes `content` (str, as UTF-8, or bytes) to `path` atomically, creating its
    folder when missing; returns `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = path + TMP_SUFFIX
    binary = isinstance(content, (bytes, bytearray))
    try:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            f.write(content)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def read_text(path, what):
    """The UTF-8 text of file `path`; `what` names it in errors (e.g. "--reference").
    A missing file, a folder or bytes that are not UTF-8 raise UserError."""
    _check_file(path, what)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise _not_utf8(path, what, f"{e.reason} at byte {e.start}") from None


def read_lines(path, what):
    """The lines of UTF-8 file `path`, one at a time (memory holds one), without their
    line ends (a last line without one counts); errors as `read_text`'s."""
    _check_file(path, what)
    with open(path, encoding="utf-8") as f:
        number = 0
        try:
            for number, line in enumerate(f, 1):
                yield line[:-1] if line.endswith("\n") else line
        except UnicodeDecodeError as e:
            raise _not_utf8(path, what, f"line {number + 1}: {e.reason}") from None


def _check_file(path, what):
    if not os.path.isfile(path):
        raise UserError(f"{what}: {path} does not exist or is not a file.")


def _not_utf8(path, what, where):
    return UserError(f"{what}: {path} is not valid UTF-8 ({where}); convert it, e.g. "
                     "iconv -f LATIN1 -t UTF-8.")


def writable_dir(path, what):
    """Creates folder `path` when missing and checks that files can be written in it;
    `what` names it in errors (e.g. "--output_dir"). Raises UserError when it is a file,
    cannot be created or is read-only."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{what}={path} is a file, not a folder. Pass a folder (it is created "
                        "when missing).")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError(f"{what}={path}: cannot create it ({e.strerror}). Pass a folder you "
                        "can write to.") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{what}={path} is not writable. Pass a folder you can write to.")
    return path


LOCK_FILE = ".t2t.lock"


@contextlib.contextmanager
def folder_lock(path, tool, what="the folder"):
    """Holds an exclusive lock on folder `path` (an fcntl lock on `path/.t2t.lock`, which
    records the holder's pid and tool) for the `with` block; `what` names the folder in
    errors (e.g. "--data_dir"); a second process asking for
    it gets a UserError naming the holder. The operating system releases the lock when its
    process dies, so the lock of a killed run never blocks the next one."""
    writable_dir(path, what)
    lock_path = os.path.join(path, LOCK_FILE)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise UserError(f"{path} is in use by {holder}; wait for it to finish (or stop it), "
                            "or use another folder.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({tool})\n".encode(), 0)
        yield lock_path
    finally:
        os.close(fd)   # releases the lock
