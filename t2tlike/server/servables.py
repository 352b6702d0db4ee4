"""The models a server holds: a base path per name, its numbered versions, one loaded.

As TensorFlow Serving does with its default version policy, a model's base path holds one
folder per version, named by a number (t2t-exporter writes `<output_dir>/export/<unix
time>/`); the largest number holding a `saved_model.pb` is served, and the folder is
polled so a newer export replaces it without a restart (the new version is loaded and
warmed up first; requests already queued for the old one finish on it). Folders whose
name is not a number (t2t-exporter's hidden `.N.incomplete`) are never loaded.

A `Servable` is one loaded version: its signatures, their SignatureDefs (for the
metadata API) and a Batcher per signature. `run` turns a batch of instances (dicts
input name -> Python value) into the signature's tensors and back.
"""
import asyncio
import json
import os

import numpy as np
from absl import logging

from t2tlike.errors import UserError, first_line
from t2tlike.server import batching
from t2tlike.serving import INFO_FILE, numbered_exports



class RequestError(ValueError):
    """A request the server refuses: its message goes to the client, with `status`."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def _signature_defs(path):
    """The SavedModel's SignatureDefs as TensorFlow Serving's metadata API prints them."""
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2
    model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        model.ParseFromString(f.read())
    graph = model.meta_graphs[0]
    return {name: json_format.MessageToDict(graph.signature_def[name])
            for name in graph.signature_def if not name.startswith("__")}


class Servable:
    """One loaded version of a model."""

    def __init__(self, name, version, path, max_input_length=-1):
        import tensorflow as tf
        try:
            import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)
        except ImportError:
            pass
        self.name, self.version, self.path = name, version, path
        self._tf = tf
        self._loaded = tf.saved_model.load(path)
        self.signatures = dict(self._loaded.signatures)
        self.signature_defs = _signature_defs(path)
        info_path = os.path.join(path, INFO_FILE)
        self.info = {}
        if os.path.isfile(info_path):
            with open(info_path, encoding="utf-8") as f:
                self.info = json.load(f)
        self.max_input_length = (self.info.get("max_input_length", 0)
                                 if max_input_length < 0 else max_input_length)
        self.specs = {name: fn.structured_input_signature[1]
                      for name, fn in self.signatures.items()}
        self.batchers = {}

    def warm_up(self):
        """Calls each signature that takes one string per instance once: the first call of
        a loaded graph is slow, and should not be a client's."""
        for name, fn in self.signatures.items():
            if len(self.specs[name]) == 1:
                (key, spec), = self.specs[name].items()
                if spec.dtype == self._tf.string and spec.shape.rank == 1:
                    fn(**{key: self._tf.constant(["warm up"])})

    def start(self, executor, **batching_params):
        """Makes a batcher per signature; runs in the event loop."""
        for name in self.signatures:
            self.batchers[name] = batching.Batcher(
                lambda instances, name=name: self.run(name, instances), executor,
                **batching_params)

    async def close(self):
        await asyncio.gather(*(b.close() for b in self.batchers.values()))

    def input_names(self, signature):
        return sorted(self.specs[signature])

    def run(self, signature, instances):
        """instances: [{input name: value}] -> [{output name: value}] (one model call)."""
        tf = self._tf
        inputs = {}
        for key, spec in self.specs[signature].items():
            values = [instance[key] for instance in instances]
            if spec.dtype == tf.string:
                inputs[key] = tf.constant(values, dtype=tf.string)
            else:
                inputs[key] = tf.constant(_pad(values, spec.dtype.as_numpy_dtype))
        outputs = self.signatures[signature](**inputs)
        outputs = {key: value.numpy() for key, value in outputs.items()}
        return [{key: _plain(value[i]) for key, value in outputs.items()}
                for i in range(len(instances))]

    def checks_lengths(self, signature):
        """Whether a request to `signature` is checked against max_input_length first."""
        return signature == "serving_default" and self.max_input_length > 0 and \
            "input_lengths" in self.signatures and len(self.specs[signature]) == 1

    def check_lengths(self, signature, instances):
        """Refuses a request with an input over max_input_length ids (RequestError, 400),
        before it is batched: one bad request never holds up its neighbours' batch."""
        (key,) = self.specs[signature]
        strings = self._tf.constant([instance[key] for instance in instances],
                                    dtype=self._tf.string)
        (length_key,) = self.specs["input_lengths"]
        lengths = self.signatures["input_lengths"](**{length_key: strings})["lengths"].numpy()
        too_long = [(i, int(n)) for i, n in enumerate(lengths) if n > self.max_input_length]
        if too_long:
            i, n = too_long[0]
            raise RequestError(f"instance {i} is {n} ids long; this model takes at most "
                               f"{self.max_input_length} (t2t-serve --max_input_length; "
                               "0 = no limit). Split the input or shorten it.")


def _pad(rows, dtype):
    """Rows of numbers of different lengths -> one array, padded with 0 at the end."""
    arrays = [np.asarray(row, dtype=dtype) for row in rows]
    if len({a.shape for a in arrays}) == 1:
        return np.stack(arrays)
    if any(a.ndim != 1 for a in arrays):
        raise RequestError("the instances' shapes differ beyond their length; give "
                           "instances of one shape.")
    out = np.zeros([len(arrays), max(len(a) for a in arrays)], dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, :len(a)] = a
    return out


def _plain(value):
    """A numpy value -> what JSON holds (bytes as UTF-8 text, or base64 when not UTF-8)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            import base64
            return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value] if value.dtype == object else value.tolist()
    return value.item() if isinstance(value, np.generic) else value


class Model:
    """A served model name: its base path, the loaded version, watched for newer ones."""

    def __init__(self, name, base_path, executor, max_input_length=-1, **batching_params):
        if not os.path.isdir(base_path):
            raise UserError(f"--model_base_path={base_path} is not a folder; give the folder "
                            "that holds the numbered exports (t2t-exporter's "
                            "<output_dir>/export).")
        self.name, self.base_path = name, base_path
        self._executor, self._batching = executor, batching_params
        self._max_input_length = max_input_length
        self.current = None       # the Servable answering requests
        self.failed = {}          # version -> the error of its load (not retried)
        self._unlisted = False    # the base path could not be listed at the last poll

    def status(self):
        """TensorFlow Serving's model_version_status list."""
        found = [{"version": str(self.current.version), "state": "AVAILABLE",
                  "status": {"error_code": "OK", "error_message": ""}}] if self.current else []
        for version, error in sorted(self.failed.items()):
            found.append({"version": str(version), "state": "END",
                          "status": {"error_code": "UNKNOWN", "error_message": error}})
        return found

    async def refresh(self):
        """Loads the newest complete version if it is not the one served."""
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(None, numbered_exports, self.base_path)
        except OSError as error:
            if not self._unlisted:   # once, not at every poll
                logging.warning("Cannot list %s (%s); still serving %s.", self.base_path,
                                error, self.current.version if self.current else "nothing")
            self._unlisted = True
            return
        self._unlisted = False
        candidates = [v for v in found if v not in self.failed]
        if not candidates or (self.current and max(candidates) == self.current.version):
            return
        version = max(candidates)
        logging.info("Loading %s version %d from %s ...", self.name, version, found[version])
        try:
            servable = await loop.run_in_executor(
                None, lambda: Servable(self.name, version, found[version],
                                       self._max_input_length))
            await loop.run_in_executor(None, servable.warm_up)
        except Exception as error:   # noqa: BLE001  (a bad export must not stop the server)
            message = first_line(error)
            self.failed[version] = message
            logging.error("Could not load %s version %d (%s): %s; still serving %s.",
                          self.name, version, found[version], message,
                          self.current.version if self.current else "nothing")
            return
        servable.start(self._executor, **self._batching)
        old, self.current = self.current, servable
        logging.info("Serving %s version %d (signatures: %s; max_input_length %s).",
                     self.name, version, ", ".join(sorted(servable.signatures)),
                     servable.max_input_length or "none")
        if old is not None:
            await old.close()   # what was queued for it finishes first
            logging.info("Unloaded %s version %d.", self.name, old.version)

    def servable(self, version=None):
        """The Servable for a request, or RequestError 404 in TensorFlow Serving's words."""
        current = self.current
        if current is None or (version is not None and version != current.version):
            which = (f"Specific({self.name}, {version})" if version is not None
                     else f"Latest({self.name})")
            raise RequestError(f"Servable not found for request: {which}", status=404)
        return current
