"""Helpers of the server tests (tests/server/, tests/bin/test_serve.py): a SavedModel
shaped like t2t-exporter's (signatures serving_default, serving_ids, input_lengths and
assets.extra/t2tlike_export.json), small enough to write in a second, so they need no
trained model; and a client for a running server.

Import as `import server_helpers` (pyproject.toml puts tests/ on the path).
"""
import asyncio
import contextlib
import json
import os


def write_fake_export(path, tag="v1", max_input_length=5):
    """serving_default: "a b" -> outputs "A B|<tag>", scores -length, batch (the size of the
    model call it ran in); an input "fail" fails the call (InvalidArgument).
    serving_ids: ids -> 2 * ids, checked against a vocabulary of 10 (gather)."""
    import tensorflow as tf

    class Fake(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, strings):
            check = tf.debugging.assert_equal(tf.reduce_any(tf.equal(strings, "fail")), False,
                                              message="an input was 'fail'")
            with tf.control_dependencies([check]):
                n = tf.shape(strings)[0]
                return {"outputs": tf.strings.upper(strings) + "|" + tag,
                        "scores": -tf.cast(tf.strings.length(strings), tf.float32),
                        "batch": tf.fill([n], n)}

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="inputs")])
        def ids(self, inputs):
            return {"outputs": tf.gather(tf.range(0, 20, 2), inputs),
                    "scores": tf.reduce_sum(tf.cast(inputs, tf.float32), axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def lengths(self, strings):
            return {"lengths": tf.cast(tf.strings.split(strings).row_lengths(), tf.int32)}

    module = Fake()
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.serve, "serving_ids": module.ids,
        "input_lengths": module.lengths})
    os.makedirs(os.path.join(path, "assets.extra"))
    with open(os.path.join(path, "assets.extra", "t2tlike_export.json"), "w") as f:
        json.dump({"max_input_length": max_input_length}, f)
    return path


@contextlib.asynccontextmanager
async def running(models, **options):
    """A Server on a free port of 127.0.0.1 and an aiohttp session -> (session, base url)."""
    import aiohttp

    from t2tlike.server import serve
    server = serve.Server(models, port=0, **options)
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield session, f"http://127.0.0.1:{port}/v1/models"
    finally:
        await server.stop()


async def post(session, url, payload):
    """-> (status, JSON answer); `payload` a dict, or a str sent as is."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    async with session.post(url, data=data) as answer:
        return answer.status, await answer.json(content_type=None)


async def get(session, url):
    async with session.get(url) as answer:
        return answer.status, await answer.json(content_type=None)


def run(coroutine):
    return asyncio.run(coroutine)
