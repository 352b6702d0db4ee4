"""Calling a trained model from Python, through its export (t2t-exporter's SavedModel).

    from t2tlike import serving
    translate = serving.Translator("runs/ende/export/1764500000")
    translate(["A man rides a bike.", "Two dogs play."])   # -> the decodes, in order

`Translator` takes an export, a folder of numbered exports (the newest is used), or a
training run's output_dir: then the run's latest checkpoint is exported first, by
t2t-exporter in a child process, into a temporary folder removed with the Translator
(give data_dir, and decode_hparams / t2t_usr_dir as for t2t-exporter):

    translate = serving.Translator("runs/ende", data_dir="data",
                                   decode_hparams="beam_size=4,alpha=0.6")

The SavedModel's `serving_default` signature does the work (tokenisation, search,
detokenisation, all in the graph); this class loads it once, feeds it batches of lines
and returns Python strings. It needs TensorFlow, and tensorflow-text for a SentencePiece
problem (imported here when installed, which registers its ops).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import weakref

from t2tlike.errors import UserError, first_line

# What t2t-exporter writes beside the SavedModel (TensorFlow Serving's folder for extra
# files): the problem, checkpoint, signatures, decode hparams, max_input_length.
INFO_FILE = os.path.join("assets.extra", "t2tlike_export.json")


class Translator:
    """Decodes lines with the export in `export_dir`, `batch_size` lines per call."""

    def __init__(self, export_dir, batch_size=64, data_dir=None, decode_hparams="",
                 t2t_usr_dir=None):
        import tensorflow as tf
        try:
            import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)
        except ImportError:
            pass
        if os.path.isfile(os.path.join(export_dir, "run.json")):
            export_dir = self._export_run(export_dir, data_dir, decode_hparams, t2t_usr_dir)
        elif not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
            export_dir = newest_export(export_dir)
        signatures = tf.saved_model.load(export_dir).signatures
        if "serving_default" not in signatures:
            raise UserError(f"the export in {export_dir} takes ids only (signature "
                            "serving_ids): its problem's encoders have no in-graph version.")
        self._fn, self._tf = signatures["serving_default"], tf
        self.batch_size = max(int(batch_size), 1)
        self.export_dir = export_dir

    def _export_run(self, run_dir, data_dir, decode_hparams, t2t_usr_dir):
        """Exports the run's latest checkpoint with t2t-exporter -> the export's folder."""
        if not data_dir:
            raise UserError(f"{run_dir} is a training run: give data_dir (its problem's "
                            "vocabulary) to export it, or pass an export folder.")
        with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as f:
            run = json.load(f)
        tmp = tempfile.mkdtemp(prefix="t2tlike_translator_")
        weakref.finalize(self, shutil.rmtree, tmp, ignore_errors=True)
        export_dir = os.path.join(tmp, "1")
        args = [f"--problem={run['problem']}", f"--model={run['model']}",
                f"--hparams={run.get('hparams') or ''}", f"--data_dir={data_dir}",
                f"--output_dir={run_dir}", f"--decode_hparams={decode_hparams}",
                f"--export_dir={export_dir}"]
        if run.get("hparams_set"):
            args.append(f"--hparams_set={run['hparams_set']}")
        if t2t_usr_dir:
            args.append(f"--t2t_usr_dir={t2t_usr_dir}")
        proc = subprocess.run([sys.executable, "-m", "t2tlike_cli.t2t_exporter", *args],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if "error:" in line]
            raise UserError(f"exporting {run_dir} failed: "
                            f"{lines[-1] if lines else first_line(proc.stderr)}")
        return export_dir

    def __call__(self, lines, with_scores=False):
        """A line -> its decode; a list of lines -> their decodes (with `with_scores`,
        (decode, score) pairs). With return_beams exported, each decode is the list of
        beams, best first."""
        single = isinstance(lines, str)
        lines = [lines] if single else list(lines)
        results = []
        for start in range(0, len(lines), self.batch_size):
            out = self._fn(self._tf.constant(lines[start:start + self.batch_size]))
            for text, score in zip(out["outputs"].numpy().tolist(),
                                   out["scores"].numpy().tolist()):
                text = ([t.decode("utf-8") for t in text] if isinstance(text, list)
                        else text.decode("utf-8"))
                results.append((text, score) if with_scores else text)
        return results[0] if single else results


def numbered_exports(base_path):
    """{version number: folder} of the complete exports in `base_path` (t2t-exporter's
    <output_dir>/export: numbered folders holding a saved_model.pb; its hidden
    `.N.incomplete` folders are never listed)."""
    found = {}
    for name in os.listdir(base_path):
        folder = os.path.join(base_path, name)
        if name.isdigit() and os.path.isfile(os.path.join(folder, "saved_model.pb")):
            found[int(name)] = folder
    return found


def newest_export(base_path):
    """The export in the largest numbered folder of `base_path`, as TensorFlow Serving
    picks it."""
    found = numbered_exports(base_path) if os.path.isdir(base_path) else {}
    if not found:
        raise UserError(f"{base_path} holds no SavedModel (saved_model.pb), no numbered "
                        "exports and no training run (run.json); export one with "
                        "t2t-exporter.")
    return found[max(found)]
