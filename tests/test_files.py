"""t2tlike/files.py: atomic writes and reading the tools' text files."""
import os

import pytest

from t2tlike import files
from t2tlike.errors import UserError


def test_atomic_write_text_and_bytes_creating_the_folder(tmp_path):
    path = tmp_path / "a" / "b" / "out.txt"
    assert files.atomic_write(str(path), "caf\u00e9\n") == str(path)
    assert path.read_bytes() == "caf\u00e9\n".encode("utf-8")
    files.atomic_write(str(path), b"\x00\x01")                 # replaces the old content
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(path.parent) == ["out.txt"]               # no temporary file left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(TypeError):
        files.atomic_write(str(path), 12345)                   # fails mid-write: not text
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_read_text_errors_name_the_file(tmp_path):
    assert files.read_text(str(_write(tmp_path / "ok.txt", "a\nb\n")), "--x") == "a\nb\n"
    with pytest.raises(UserError, match="--input: .*missing.txt does not exist or is not a file"):
        files.read_text(str(tmp_path / "missing.txt"), "--input")
    with pytest.raises(UserError, match="does not exist or is not a file"):
        files.read_text(str(tmp_path), "--input")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(UserError, match="--input: .*latin1.txt is not valid UTF-8"):
        files.read_text(str(bad), "--input")


def _write(path, text):
    path.write_text(text)
    return path
