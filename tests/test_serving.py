"""serving.Translator on an export, on a folder of numbered exports (the newest), and the
messages for folders it cannot use. (On a training run: tests/bin/test_exporter.py.)"""
import pytest

from server_helpers import write_fake_export
from t2tlike import serving
from t2tlike.errors import UserError


def test_a_folder_of_numbered_exports_means_its_newest(tmp_path):
    write_fake_export(tmp_path / "9", tag="old")
    write_fake_export(tmp_path / "10", tag="new")
    (tmp_path / ".11.incomplete").mkdir()   # a half-written export is never used
    translate = serving.Translator(str(tmp_path), batch_size=2)
    assert translate.export_dir == str(tmp_path / "10")
    assert translate(["a b", "c", "d e f"]) == ["A B|new", "C|new", "D E F|new"]
    assert translate("x", with_scores=False) == "X|new"
    assert serving.Translator(str(tmp_path / "9"))(["y"], with_scores=True) == [("Y|old", -1.0)]


def test_a_folder_it_cannot_use_is_one_message(tmp_path):
    with pytest.raises(UserError, match="no numbered exports and no training run"):
        serving.Translator(str(tmp_path))
    (tmp_path / "run.json").write_text('{"problem": "p", "model": "transformer"}')
    with pytest.raises(UserError, match="is a training run: give data_dir"):
        serving.Translator(str(tmp_path))
