"""TensorFlow Serving's REST API over aiohttp, for exports of t2t-exporter (or any
SavedModel whose signatures take a batch).

  GET  /v1/models/NAME[/versions/N]             {"model_version_status": [...]}
  GET  /v1/models/NAME[/versions/N]/metadata    {"model_spec": ..., "metadata":
                                                  {"signature_def": {"signature_def": ...}}}
  POST /v1/models/NAME[/versions/N]:predict     {"instances": [...]} -> {"predictions": [...]}
                                                or {"inputs": ...} -> {"outputs": ...}

Request and answer shapes are TensorFlow Serving's: "signature_name" (default
serving_default), row format (an instance is the value of a one-input signature, or a
dict input name -> value) or columnar format (a list, or a dict input name -> list);
strings as JSON strings or {"b64": "..."}; an answer with several outputs gives a dict per
prediction. Every error is {"error": "..."} with a 4xx status for a bad request (404 for
an unknown model or version), 500 for a failure inside the model and 504 for a request
not answered within the timeout; the server goes on.

aiohttp serves: asyncio's HTTP server and client of the aio-libs project, maintained
for more than ten years, with graceful shutdown (stop accepting, finish the handlers in
flight) built in; the model runs in worker threads (TensorFlow releases the GIL), so one process both
answers many connections and keeps the CPU on the model.
"""
import asyncio
import base64
import binascii
import json
import re
import time

import numpy as np
from absl import logging
from aiohttp import web

from t2tlike.server.servables import RequestError

_PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?"
                   r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?$")
_FIELDS = {"instances", "inputs", "signature_name"}
API = web.AppKey("api", object)   # the app's Api


def _error(message, status):
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _json_errors(request, handler):
    """Every error the server gives is TensorFlow Serving's {"error": ...}."""
    try:
        return await handler(request)
    except RequestError as error:
        return _error(str(error), error.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _error(f"{error.reason}: {request.method} {request.path}"
                      + (f" ({error.text})" if error.status == 413 else ""), error.status)


class Api:
    """The REST handlers over `models` ({name: servables.Model})."""

    def __init__(self, models, timeout_seconds=0.0):
        self.models = models
        self.timeout_seconds = timeout_seconds   # a predict request's longest wait (0: none)
        self.stats = {name: Stats() for name in models}

    def routes(self):
        return [web.get(r"/v1/models/{rest:.+}", self.get),
                web.post(r"/v1/models/{rest:.+}", self.post)]

    def _target(self, request):
        match = _PATH.match(request.match_info["rest"])
        if not match:
            raise RequestError(f"Malformed request: {request.method} {request.path}", 404)
        name, version = match["name"], match["version"]
        if name not in self.models:
            raise RequestError(f"Servable not found for request: Latest({name}); this "
                               f"server has {sorted(self.models)}", 404)
        if version is not None and not version.isdigit():
            raise RequestError(f"Malformed request: version {version!r} is not a number "
                               "(version labels are not supported)", 404)
        return match, self.models[name], None if version is None else int(version)

    async def get(self, request):
        match, model, version = self._target(request)
        if match["verb"]:
            raise RequestError(f"Malformed request: GET {request.path} ({match['verb']} "
                               "takes POST)", 405)
        if match["metadata"]:
            servable = model.servable(version)
            return web.json_response({
                "model_spec": {"name": model.name, "signature_name": "",
                               "version": str(servable.version)},
                "metadata": {"signature_def": {"signature_def": servable.signature_defs}}})
        status = model.status()
        if version is not None:
            status = [s for s in status if s["version"] == str(version)]
            if not status:
                raise RequestError(f"Could not find version {version} of model "
                                   f"{model.name}", 404)
        return web.json_response({"model_version_status": status})

    async def post(self, request):
        match, model, version = self._target(request)
        if match["verb"] != "predict":
            raise RequestError(f"Malformed request: POST {request.path}; this server "
                               "answers :predict (not :classify or :regress)", 400
                               if match["verb"] else 405)
        servable = model.servable(version)
        try:
            payload = json.loads(await request.read())
        except ValueError as error:
            raise RequestError(f"JSON Parse error: {error}") from None
        signature, instances, row_format = _parse(payload, servable)
        started = time.monotonic()
        if servable.checks_lengths(signature):
            await asyncio.get_running_loop().run_in_executor(
                None, servable.check_lengths, signature, instances)
        try:
            results = await asyncio.wait_for(servable.batchers[signature].submit(instances),
                                             self.timeout_seconds or None)
        except RequestError:
            raise
        except asyncio.TimeoutError:
            raise RequestError(f"the request was not answered within "
                               f"{self.timeout_seconds * 1000:.0f} ms (t2t-serve "
                               "--rest_api_timeout_in_ms); send fewer instances per request "
                               "or retry later", 504) from None
        except Exception as error:   # noqa: BLE001  (the server answers and goes on)
            raise _model_error(error) from None
        self.stats[model.name].add(len(instances), time.monotonic() - started)
        if row_format:
            return web.json_response({"predictions": [
                next(iter(r.values())) if len(r) == 1 else r for r in results]})
        keys = list(results[0])
        outputs = {k: [r[k] for r in results] for k in keys}
        return web.json_response({"outputs": outputs[keys[0]] if len(keys) == 1 else outputs})


def _parse(payload, servable):
    """A predict request -> (signature name, [{input name: value}], row format?)."""
    if not isinstance(payload, dict):
        raise RequestError("the request must be a JSON object with 'instances' (row format) "
                           "or 'inputs' (columnar format)")
    unknown = sorted(set(payload) - _FIELDS)
    if unknown:
        raise RequestError(f"unknown field(s) {unknown} in the request; a predict request has "
                           "'instances' or 'inputs', and optionally 'signature_name'")
    if ("instances" in payload) == ("inputs" in payload):
        raise RequestError("Missing 'inputs' or 'instances' key" if "inputs" not in payload
                           else "Not both 'instances' and 'inputs' can be specified")
    signature = payload.get("signature_name", "serving_default")
    if not isinstance(signature, str) or signature not in servable.signatures:
        raise RequestError(f"Serving signature name: {json.dumps(signature)} not found in "
                           f"signature def; this model has {sorted(servable.signatures)}")
    names = servable.input_names(signature)
    if "instances" in payload:
        rows = payload["instances"]
        if not isinstance(rows, list) or not rows:
            raise RequestError("'instances' must be a non-empty list (one entry per input "
                               "example)")
        if len(names) == 1:
            rows = [row[names[0]] if isinstance(row, dict) and set(row) == set(names) else row
                    for row in rows]
            rows = [{names[0]: row} for row in rows]
    else:
        columns = payload["inputs"]
        if len(names) == 1 and not (isinstance(columns, dict) and set(columns) == set(names)):
            columns = {names[0]: columns}
        if not isinstance(columns, dict) or set(columns) != set(names) or not all(
                isinstance(c, list) and c for c in columns.values()) or len(
                {len(c) for c in columns.values()}) != 1:
            raise RequestError(f"'inputs' must be a non-empty list, or a dict of lists of one "
                               f"length with the keys {names}")
        count = len(next(iter(columns.values())))
        rows = [{k: columns[k][i] for k in names} for i in range(count)]
    specs = servable.specs[signature]
    instances = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != set(names):
            raise RequestError(f"instance {i} must be a dict with the keys {names} "
                               f"(signature {signature}), got {_kind(row)}")
        instances.append({k: _value(row[k], specs[k], i, k, signature) for k in names})
    return signature, instances, "instances" in payload


def _value(value, spec, i, key, signature):
    """A JSON value -> what the input `spec` takes, or a RequestError that says why not."""
    if spec.dtype.name == "string":
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(f"instance {i}: 'b64' is not valid base64") from None
        raise RequestError(f"instance {i}: input '{key}' of signature {signature} takes a "
                           f"string (or {{\"b64\": ...}}), got {_kind(value)}")
    try:
        array = np.asarray(value)
        bad = array.dtype == object or array.dtype.kind not in "iuf" or \
            (spec.dtype.is_integer and array.dtype.kind == "f")
    except (ValueError, TypeError):
        bad = True
    rank = spec.shape.rank
    if bad or (rank is not None and array.ndim != rank - 1):
        raise RequestError(f"instance {i}: input '{key}' of signature {signature} takes "
                           f"{spec.dtype.name} of rank {None if rank is None else rank - 1} "
                           f"per instance, got {_kind(value)}")
    return array


def _kind(value):
    return f"{type(value).__name__} {json.dumps(value)[:60]}"


def _model_error(error):
    """A failure inside the model -> RequestError: 400 for TensorFlow's invalid argument
    (e.g. an id outside the vocabulary), 500 otherwise; the details go to the log."""
    import tensorflow as tf
    message = (getattr(error, "message", None) or str(error) or repr(error)).strip()
    lines = [line for line in message.splitlines() if line.strip() and not line.startswith(
        ("Graph execution error", "Detected at node", "<stack traces", "\t", " "))]
    first = re.sub(r"\s*\[Op:[^\]]*\]$", "", lines[0] if lines else type(error).__name__)
    first = first.replace("\\'", "'")
    if isinstance(error, tf.errors.InvalidArgumentError):
        return RequestError(first, 400)
    logging.error("A request failed inside the model: %s", message)
    return RequestError(first, 500)


class Stats:
    """Requests, instances and latencies since the last report (the progress log line)."""

    def __init__(self):
        self.latencies, self.instances, self.since = [], 0, time.monotonic()

    def add(self, instances, seconds):
        self.instances += instances
        self.latencies.append(seconds)

    def report(self, name):
        seconds = time.monotonic() - self.since
        if self.latencies:
            p50, p99 = np.percentile(self.latencies, [50, 99])
            logging.info("%s: %d requests, %d instances in %.0f s (%.1f instances/s); "
                         "latency p50 %.3f s, p99 %.3f s", name, len(self.latencies),
                         self.instances, seconds, self.instances / seconds, p50, p99)
        self.__init__()


def make_app(models, client_max_size=16 << 20, timeout_seconds=0.0):
    api = Api(models, timeout_seconds)
    app = web.Application(middlewares=[_json_errors], client_max_size=client_max_size)
    app.add_routes(api.routes())
    app[API] = api
    return app


async def report_every(app, seconds):
    """Logs each model's traffic every `seconds` (when there was some)."""
    while True:
        await asyncio.sleep(seconds)
        for name, stats in app[API].stats.items():
            stats.report(name)
