"""Calling an exported model (t2t-exporter's SavedModel) from Python.

    from t2tlike import serving
    translate = serving.Translator("runs/ende/export/1764500000")
    translate(["A man rides a bike.", "Two dogs play."])   # -> the decodes, in order

The SavedModel's `serving_default` signature does the work (tokenisation, search,
detokenisation, all in the graph); this class loads it once, feeds it batches of lines
and returns Python strings. It needs TensorFlow, and tensorflow-text for a SentencePiece
problem (imported here when installed, which registers its ops).
"""
import os

from t2tlike.errors import UserError


class Translator:
    """Decodes lines with the export in `export_dir`, `batch_size` lines per call."""

    def __init__(self, export_dir, batch_size=64):
        import tensorflow as tf
        try:
            import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)
        except ImportError:
            pass
        if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
            raise UserError(f"{export_dir} holds no SavedModel (saved_model.pb); export one "
                            "with t2t-exporter.")
        signatures = tf.saved_model.load(export_dir).signatures
        if "serving_default" not in signatures:
            raise UserError(f"the export in {export_dir} takes ids only (signature "
                            "serving_ids): its problem's encoders have no in-graph version.")
        self._fn, self._tf = signatures["serving_default"], tf
        self.batch_size = max(int(batch_size), 1)

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
