"""The server's batch threads: num_batch_threads=0 runs one batch per CPU core at once,
at most 8 (TensorFlow Serving's default); a number is taken as it is."""
import pytest

pytest.importorskip("aiohttp")


@pytest.mark.parametrize("cores, given, threads", [(2, 0, 2), (16, 0, 8), (16, 3, 3),
                                                   (1, 0, 1)])
def test_batch_threads_0_is_one_per_core(monkeypatch, tmp_path, cores, given, threads):
    from t2tlike.server import serve
    monkeypatch.setattr(serve, "cpu_cores", lambda: cores)
    server = serve.Server({"m": str(tmp_path)}, num_batch_threads=given)
    try:
        assert server._executor._max_workers == threads
        assert server.models["m"]._batching["num_batch_threads"] == threads
    finally:
        server._executor.shutdown()
