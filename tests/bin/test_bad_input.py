"""Every user mistake ends in one clear message on stderr and exit status 2, no traceback."""
import pytest

from cli_helpers import TOY_HPARAMS, TOY_PROBLEM, USR_DIR


def _assert_user_error(result, *fragments):
    code, out, err = result
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def _train_args(data_dir, out_dir, *extra, problem=TOY_PROBLEM, model="transformer",
                hparams_set=TOY_HPARAMS):
    return (f"--t2t_usr_dir={USR_DIR}", f"--problem={problem}", f"--model={model}",
            f"--hparams_set={hparams_set}", f"--data_dir={data_dir}",
            f"--output_dir={out_dir}", "--train_steps=1", *extra)


def test_unknown_problem_suggests_names(run_cli, tmp_path):
    _assert_user_error(run_cli("t2t-trainer", *_train_args(tmp_path, tmp_path,
                                                          problem="algorithmic_reverse_binry40")),
                       "unknown problem 'algorithmic_reverse_binry40'",
                       "algorithmic_reverse_binary40", "--registry_help")


def test_unknown_problem_in_datagen(run_cli, tmp_path):
    _assert_user_error(run_cli("t2t-datagen", "--problem=no_such_problem",
                               f"--data_dir={tmp_path}"), "unknown problem 'no_such_problem'")


def test_unknown_model(run_cli, toy_data, tmp_path):
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, tmp_path,
                                                          model="transfomer")),
                       "unknown model 'transfomer'", "transformer")


def test_unknown_hparams_set(run_cli, toy_data, tmp_path):
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, tmp_path,
                                                          hparams_set="transformer_tiyn")),
                       "unknown hparams set 'transformer_tiyn'", "transformer_tiny")


@pytest.mark.parametrize("overrides, fragment", [
    ("hiden_size=64", "unknown hparam 'hiden_size'"),
    ("hidden_size=abc", "hparam 'hidden_size' expects a int"),
    ("hidden_size", "malformed hparams entry"),
    ("hidden_size=[1,2", "unbalanced brackets"),
])
def test_bad_hparams_strings(run_cli, toy_data, tmp_path, overrides, fragment):
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, tmp_path,
                                                          f"--hparams={overrides}")), fragment)


def test_a_model_cross_check_fails_before_anything_is_written(run_cli, toy_data, tmp_path):
    out_dir = tmp_path / "run"
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, out_dir,
                                                          "--hparams=num_heads=3")),
                       "num_heads", "hidden_size")
    assert not out_dir.exists() or not list(out_dir.iterdir())
    # so the corrected command starts the run instead of refusing "different hparams"
    args = [a for a in _train_args(toy_data, out_dir) if a != "--train_steps=1"]
    code, out, err = run_cli("t2t-trainer", *args, "--train_steps=0")
    assert code == 0, err
    assert (out_dir / "hparams.json").exists() and "nothing to do" in err


@pytest.mark.parametrize("flag", ["--output_dir", "--data_dir"])
def test_a_file_where_a_folder_is_expected(run_cli, toy_data, tmp_path, flag):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder\n")
    args = _train_args(toy_data, tmp_path / "run")
    args = [f"{flag}={a_file}" if a.startswith(flag + "=") else a for a in args]
    _assert_user_error(run_cli("t2t-trainer", *args), f"{a_file} is a file, not a folder")
    if flag == "--data_dir":   # datagen names the flag too
        _assert_user_error(run_cli("t2t-datagen", "--problem=algorithmic_reverse_binary40",
                                   f"--data_dir={a_file}", f"--tmp_dir={tmp_path / 't'}"),
                           f"--data_dir={a_file} is a file, not a folder")


def test_a_folder_in_use_by_another_run_is_refused(run_cli, toy_data, tmp_path):
    import os
    from t2tlike.files import LOCK_FILE, folder_lock
    out_dir = tmp_path / "run"
    with folder_lock(str(out_dir), "t2t-trainer"):     # as a trainer running there holds it
        _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, out_dir)),
                           f"{out_dir} is in use by pid {os.getpid()} (t2t-trainer)")
        _assert_user_error(run_cli("t2t-datagen", "--problem=algorithmic_reverse_binary40",
                                   f"--data_dir={out_dir}", f"--tmp_dir={tmp_path / 't'}"),
                           "is in use by pid")
    assert not (out_dir / "hparams.json").exists()
    # the lock file of a process that died holds no lock: the next run takes it over
    (out_dir / LOCK_FILE).write_text("pid 999999 (t2t-trainer)\n")
    with folder_lock(str(out_dir), "t2t-datagen") as lock:
        assert open(lock).read() == f"pid {os.getpid()} (t2t-datagen)\n"


def test_unknown_learning_rate_factor(run_cli, toy_data, tmp_path):
    _assert_user_error(
        run_cli("t2t-trainer", *_train_args(
            toy_data, tmp_path, "--hparams=learning_rate_schedule=constant*linear_warmpu")),
        "unknown learning-rate factor 'linear_warmpu'", "linear_warmup")


def test_negative_step_counts(run_cli, toy_data, tmp_path):
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, tmp_path),
                               "--train_steps=-5"), "train_steps", "-5")
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, tmp_path),
                               "--eval_steps=-1"), "eval_steps", "-1")


def test_negative_thread_counts(run_cli, toy_data, tmp_path):
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, tmp_path),
                               "--inter_op_parallelism_threads=-1"),
                       "--inter_op_parallelism_threads=-1", "positive number of threads")


def test_missing_data_dir_names_the_datagen_command(run_cli, tmp_path):
    _assert_user_error(run_cli("t2t-trainer", *_train_args(tmp_path / "nowhere", tmp_path / "o")),
                       "does not exist", f"t2t-datagen --problem={TOY_PROBLEM}")


def test_missing_usr_dir(run_cli, tmp_path):
    _assert_user_error(run_cli("t2t-datagen", f"--t2t_usr_dir={tmp_path / 'nope'}",
                               "--problem=x", f"--data_dir={tmp_path}"),
                       "--t2t_usr_dir", "does not exist")


def test_usr_dir_with_a_syntax_error(run_cli, tmp_path):
    bad = tmp_path / "broken_user_module.py"
    bad.write_text("def oops(:\n")
    _assert_user_error(run_cli("t2t-datagen", f"--t2t_usr_dir={bad}", "--problem=x",
                               f"--data_dir={tmp_path}"), "SyntaxError", "broken_user_module.py")


def test_missing_required_flag(run_cli, tmp_path):
    _assert_user_error(run_cli("t2t-trainer", "--problem=algorithmic_reverse_binary40"),
                       "--model")


def test_decoding_without_checkpoint(run_cli, toy_data, tmp_path):
    _assert_user_error(run_cli("t2t-decoder", *_train_args(toy_data, tmp_path / "empty")[:-1]),
                       "no checkpoint in", "t2t-trainer")


def test_decoding_a_missing_input_file(run_cli, toy_trained, tmp_path):
    data_dir, out_dir = toy_trained
    _assert_user_error(run_cli("t2t-decoder", *_train_args(data_dir, out_dir)[:-1],
                               f"--decode_from_file={tmp_path / 'missing.txt'}"),
                       "--decode_from_file", "does not exist")


def test_a_bad_decode_output_path_fails_before_decoding(run_cli, toy_trained, tmp_path):
    data_dir, out_dir = toy_trained
    src = tmp_path / "in.txt"
    src.write_text("1 0 1\n")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for target, fragment in ((tmp_path, "is a folder; give a file name"),
                             (blocker / "out.txt", "is a file, not a folder")):
        _assert_user_error(run_cli("t2t-decoder", *_train_args(data_dir, out_dir)[:-1],
                                   f"--decode_from_file={src}", f"--decode_to_file={target}"),
                           "--decode_to_file", fragment)
    _assert_user_error(run_cli("t2t-decoder", *_train_args(data_dir, out_dir)[:-1],
                               f"--decode_from_file={src}", "--decode_resume"),
                       "--decode_resume", "--decode_to_file")


def test_malformed_decode_hparams(run_cli, toy_trained):
    data_dir, out_dir = toy_trained
    _assert_user_error(run_cli("t2t-decoder", *_train_args(data_dir, out_dir)[:-1],
                               "--decode_hparams=beam_size=four"),
                       "hparam 'beam_size' expects a int")
    _assert_user_error(run_cli("t2t-decoder", *_train_args(data_dir, out_dir)[:-1],
                               "--decode_hparams=beam_sise=4"),
                       "unknown hparam 'beam_sise'", "beam_size")


@pytest.mark.parametrize("overrides, fragment", [
    ("num_hidden_layers=2", "lacks 10 of this model's variables"),   # one layer more
    ("num_hidden_layers=0", "holds 36 model variables, this model has 6"),   # one fewer
    ("hidden_size=64", "does not fit this model: Received incompatible tensor"),
])
def test_decoding_a_checkpoint_of_other_hparams_is_refused(run_cli, toy_trained, tmp_path,
                                                           overrides, fragment):
    data_dir, out_dir = toy_trained
    src = tmp_path / "in.txt"
    src.write_text("red cat runs\n")
    dst = tmp_path / "out.txt"
    _assert_user_error(run_cli("t2t-decoder", *_train_args(data_dir, out_dir)[:-1],
                               f"--hparams={overrides}", f"--decode_from_file={src}",
                               f"--decode_to_file={dst}"),
                       fragment, "--hparams_set and --hparams (its hparams.json)")
    assert not dst.exists()


def test_restart_refuses_conflicting_overrides(run_cli, toy_trained):
    data_dir, out_dir = toy_trained
    _assert_user_error(run_cli("t2t-trainer", *_train_args(data_dir, out_dir,
                                                          "--hparams=hidden_size=64")),
                       "different hparams", "hidden_size=32 (stored) vs 64")


def test_unknown_flag(run_cli):
    _assert_user_error(run_cli("t2t-trainer", "--trian_steps=3"),
                       "Unknown command line flag 'trian_steps'", "Did you mean: train_steps")


def test_a_bad_cluster_is_refused_before_any_work(run_cli, toy_data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, out, "--ps_replicas=2")),
                       "--ps_replicas=2", "no parameter servers")
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, out, "--worker_replicas=2",
                                                           "--worker_id=1")),
                       "set TF_CONFIG on each worker instead")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, '
                                    '"task": {"type": "worker", "index": 3}}')
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, out)),
                       "TF_CONFIG's task index 3 is out of range")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["192.0.2.1:2222", "127.0.0.1:1"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, out)),
                       "192.0.2.1:2222, is not an address of this machine")
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, out, "--local_workers=2")),
                       "both TF_CONFIG and --local_workers are set")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    _assert_user_error(run_cli("t2t-trainer", *_train_args(toy_data, out)),
                       "TF_CONFIG is not valid JSON")
    assert not out.exists()
