"""t2t-avg-all: average the last checkpoints of a run (the toy run's, at steps 15 and 30),
decode from the average."""
import numpy as np
import tensorflow as tf

from cli_helpers import TOY_PROBLEM, USR_DIR


def test_average_then_decode_from_the_average(run_cli, toy_trained, tmp_path):
    toy_data, run_dir = toy_trained
    avg_dir = tmp_path / "avg"
    code, out, err = run_cli("t2t-avg-all", f"--model_dir={run_dir}",
                             f"--output_dir={avg_dir}", "--n=2")
    assert code == 0, err
    assert "Averaged 2 checkpoints (steps 15..30)" in out
    assert tf.train.latest_checkpoint(str(avg_dir)) == str(avg_dir / "model-30")
    # Float variables are the mean of steps 15 and 30; the step counter is step 30's.
    readers = [tf.train.load_checkpoint(str(run_dir / f"model-{s}")) for s in (15, 30)]
    averaged = tf.train.load_checkpoint(str(avg_dir / "model-30"))
    floats = sorted(n for n, d in averaged.get_variable_to_dtype_map().items() if d.is_floating)
    assert any("embedding" in n or "kernel" in n for n in floats)
    for name in floats:
        np.testing.assert_allclose(averaged.get_tensor(name),
                                   (readers[0].get_tensor(name) + readers[1].get_tensor(name)) / 2,
                                   rtol=1e-6, atol=1e-7)
    assert averaged.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 30

    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("red cat runs\nblue bird sings\n")
    code, out, err = run_cli(    # no --hparams_set: the run's hparams.json was copied along
        "t2t-decoder", f"--t2t_usr_dir={USR_DIR}", f"--problem={TOY_PROBLEM}",
        "--model=transformer", f"--data_dir={toy_data}", f"--output_dir={avg_dir}",
        "--decode_hparams=beam_size=2,extra_length=5", f"--decode_from_file={src}",
        f"--decode_to_file={dst}")
    assert code == 0, err
    assert len(dst.read_text().splitlines()) == 2


def test_help_names_the_flags(run_cli):
    code, out, err = run_cli("t2t-avg-all", "--help")
    assert code == 0, err
    assert "--model_dir" in out and "--n:" in out and "--min_steps" in out


def test_bad_input_exits_2(run_cli, tmp_path):
    for args, fragment in [((f"--model_dir={tmp_path / 'nowhere'}",), "does not exist"),
                           ((f"--model_dir={tmp_path}",), "no checkpoints in"),
                           ((f"--model_dir={tmp_path}", "--n=0"), "--n must be at least 1"),
                           ((), "--model_dir")]:
        code, out, err = run_cli("t2t-avg-all", *args)
        assert code == 2 and fragment in err and "Traceback" not in err, (args, err)
