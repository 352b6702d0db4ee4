"""t2t-exporter: the SavedModel answers raw strings exactly as t2t-decoder does on the same
checkpoint and decode hparams, loaded in a process that imports only TensorFlow and
tensorflow-text, through serving.Translator and through t2t-serve's server; its
CTranslate2 export decodes greedily as t2t-decoder does; bad input is one message."""
import asyncio
import json
import os
import random
import subprocess
import sys

import pytest

from cli_helpers import TOY_PROBLEM, USR_DIR

LOAD = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)
lines = open(sys.argv[1], encoding="utf-8").read().split("\\n")[:-1]
out = {}
for path in sys.argv[2:]:
    translate = tf.saved_model.load(path).signatures["serving_default"]
    result = translate(tf.constant(lines))
    out[path] = [o.decode("utf-8") for o in result["outputs"].numpy()]
    assert result["scores"].shape == (len(lines),)
    lengths = tf.saved_model.load(path).signatures["input_lengths"](tf.constant(lines))
    out["lengths"] = lengths["lengths"].numpy().tolist()
out["imported"] = sorted(m for m in sys.modules if m.startswith(("t2tlike", "data_generators")))
print(json.dumps(out))
"""


def _args(data_dir, out_dir):
    return [f"--t2t_usr_dir={USR_DIR}", f"--problem={TOY_PROBLEM}", "--model=transformer",
            f"--data_dir={data_dir}", f"--output_dir={out_dir}"]


@pytest.mark.slow
def test_an_export_decodes_raw_strings_as_the_decoder_does(run_cli, toy_trained, tmp_path):
    """Beam 2 through t2t-exporter, greedy through serving.Translator on the run folder
    (which runs t2t-exporter in a child process), and greedy through a CTranslate2 export."""
    from t2tlike import registry, serving
    data_dir, out_dir = toy_trained
    words = "the a cat dog sat on mat red big small blue runs".split()
    rng = random.Random(0)
    src = tmp_path / "in.txt"
    src.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) + "\n"
                           for _ in range(60)))
    lines = src.read_text(encoding="utf-8").split("\n")[:-1]
    expected = {}
    for decode in ("beam_size=2,alpha=0.6", "beam_size=1"):
        dst = tmp_path / f"decoder_{decode[10]}.txt"
        code, _, err = run_cli("t2t-decoder", *_args(data_dir, out_dir),
                               f"--decode_hparams={decode},batch_size=16",
                               f"--decode_from_file={src}", f"--decode_to_file={dst}")
        assert code == 0, err
        expected[decode[10]] = dst.read_text(encoding="utf-8").split("\n")[:-1]
    beam_export = tmp_path / "beam" / "1"   # a numbered version, as a server expects
    code, stdout, err = run_cli("t2t-exporter", *_args(data_dir, out_dir),
                                "--decode_hparams=beam_size=2,alpha=0.6",
                                f"--export_dir={beam_export}")
    assert code == 0, err
    assert sorted(os.listdir(beam_export)) == ["assets", "assets.extra", "fingerprint.pb",
                                               "saved_model.pb", "variables"]
    info = json.loads((beam_export / "assets.extra" / "t2tlike_export.json").read_text())
    assert info["problem"] == TOY_PROBLEM and info["max_input_length"] > 0
    assert info["signatures"] == ["serving_default", "serving_ids", "input_lengths"]
    assert os.listdir(beam_export.parent) == ["1"]   # no temporary folder left
    from_run = serving.Translator(str(out_dir), data_dir=str(data_dir),   # the run itself
                                  decode_hparams="beam_size=1", t2t_usr_dir=str(USR_DIR))
    exports = {str(beam_export): expected["2"], from_run.export_dir: expected["1"]}
    proc = subprocess.run([sys.executable, "-c", LOAD, str(src), *exports], capture_output=True,
                          text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded.pop("imported") == []
    encoder = registry.problem(TOY_PROBLEM).get_feature_encoders(str(data_dir))["inputs"]
    assert loaded.pop("lengths") == [len(encoder.encode(line)) for line in lines]
    for path, decodes in exports.items():
        assert loaded[path] == decodes
        assert len(set(decodes)) > 5, decodes[:10]   # not one output for all

    translate = serving.Translator(str(beam_export), batch_size=7)   # in this process
    assert translate(lines[:20]) == expected["2"][:20]
    assert translate(lines[3]) == expected["2"][3]
    (decode, score), = translate(lines[:1], with_scores=True)
    assert decode == expected["2"][0] and score < 0
    assert from_run(lines[:20]) == expected["1"][:20]
    answers = asyncio.run(_serve(beam_export.parent, lines[:20]))   # t2t-serve's server
    assert answers == expected["2"][:20]
    _check_ctranslate2_greedy(run_cli, data_dir, out_dir, tmp_path, encoder, lines[:50],
                              expected["1"][:50])


async def _serve(base_path, lines):
    """The export's answers through a server on a free port, one request per line, all at
    once (so they are batched)."""
    from server_helpers import post, running
    async with running({"m": str(base_path)}) as (session, url):
        answers = await asyncio.gather(*(post(session, f"{url}/m:predict",
                                              {"instances": [line]}) for line in lines))
    assert {status for status, _ in answers} == {200}
    return [answer["predictions"][0]["outputs"] for _, answer in answers]


def _check_ctranslate2_greedy(run_cli, data_dir, out_dir, tmp_path, encoder, lines, expected):
    ctranslate2 = pytest.importorskip("ctranslate2")
    ct2_dir = tmp_path / "ct2"
    code, _, err = run_cli("t2t-exporter", *_args(data_dir, out_dir),
                           "--export_format=ctranslate2", f"--export_dir={ct2_dir}")
    assert code == 0, err
    vocab_file = next(p for p in ("shared_vocabulary.json", "source_vocabulary.json")
                      if (ct2_dir / p).exists())
    vocab = json.loads((ct2_dir / vocab_file).read_text(encoding="utf-8"))
    index = {token: i for i, token in enumerate(vocab)}
    sources = [[vocab[i] for i in encoder.encode(line.strip())] for line in lines]
    results = ctranslate2.Translator(str(ct2_dir), device="cpu").translate_batch(
        sources, beam_size=1, min_decoding_length=0,
        max_decoding_length=max(len(s) for s in sources) + 1 + 100)
    assert [encoder.decode([index[t] for t in r.hypotheses[0]]) for r in results] == expected


def test_exporting_without_a_checkpoint_over_an_export_or_a_multi_task_is_one_message(run_cli, toy_trained,
                                                                         toy_data, tmp_path):
    code, _, err = run_cli("t2t-exporter", *_args(toy_data, tmp_path / "untrained"))
    assert code == 2 and "no checkpoint in" in err and "Traceback" not in err
    data_dir, out_dir = toy_trained
    code, _, err = run_cli("t2t-exporter", *_args(data_dir, out_dir), f"--export_dir={tmp_path}")
    assert code == 2 and "exists already; exports are never overwritten" in err
    code, _, err = run_cli("t2t-exporter", *_args(data_dir, out_dir), "--export_format="
                           "ctranslate2", "--decode_hparams=beam_size=2")
    assert code == 2 and "takes neither --task" in err and "Traceback" not in err
    code, _, err = run_cli("t2t-exporter", *_args(data_dir, out_dir),
                           "--ctranslate2_quantization=int8")
    assert code == 2 and "applies to --export_format=ctranslate2" in err
    code, _, err = run_cli("t2t-exporter", "--problem=algorithmic_reverse_binary40+"
                           "algorithmic_identity_binary40", "--model=transformer",
                           f"--data_dir={data_dir}", f"--output_dir={out_dir}")
    assert code == 2 and "has several tasks" in err and "Traceback" not in err
