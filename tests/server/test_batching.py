"""Dynamic batching: concurrent requests share a model call up to max_batch_size, a batch
closes on size or timeout, a request is never split unless it alone is too big, and a
request that fails its batch fails alone."""
import asyncio
import concurrent.futures
import time

import pytest

from t2tlike.server.batching import Batcher


class Recorder:
    """A model that doubles numbers and records the size of every call; 13 fails a call."""

    def __init__(self):
        self.calls = []

    def __call__(self, instances):
        self.calls.append(list(instances))
        if 13 in instances:
            raise ValueError("13 is unlucky")
        return [2 * x for x in instances]


def _run(scenario, **options):
    async def main():
        model = Recorder()
        with concurrent.futures.ThreadPoolExecutor(1) as executor:
            batcher = Batcher(model, executor, **options)
            try:
                return await scenario(batcher), model.calls
            finally:
                await batcher.close()
    return asyncio.run(main())


def test_concurrent_requests_share_one_call_and_a_full_batch_does_not_wait():
    async def scenario(batcher):
        began = time.monotonic()
        results = await asyncio.gather(*(batcher.submit([i, 100 + i]) for i in range(4)))
        return results, time.monotonic() - began
    (results, seconds), calls = _run(scenario, max_batch_size=8,
                                     batch_timeout_micros=30_000_000)
    assert results == [[0, 200], [2, 202], [4, 204], [6, 206]]
    assert calls == [[0, 100, 1, 101, 2, 102, 3, 103]]
    assert seconds < 30   # closed because it was full, not by the 30 s timeout


def test_a_request_that_does_not_fit_waits_for_the_next_batch_and_a_big_one_runs_in_chunks():
    async def scenario(batcher):
        return await asyncio.gather(batcher.submit([1, 2]), batcher.submit([3, 4]),
                                    batcher.submit(list(range(20, 27))))
    results, calls = _run(scenario, max_batch_size=3, batch_timeout_micros=1000)
    assert results == [[2, 4], [6, 8], [2 * x for x in range(20, 27)]]
    assert calls == [[1, 2], [3, 4], [20, 21, 22], [23, 24, 25], [26]]


def test_a_request_that_fails_the_call_fails_alone():
    async def scenario(batcher):
        return await asyncio.gather(batcher.submit([1]), batcher.submit([13, 2]),
                                    batcher.submit([3]), return_exceptions=True)
    (first, bad, third), calls = _run(scenario, max_batch_size=8,
                                      batch_timeout_micros=200_000)
    assert first == [2] and third == [6]
    assert isinstance(bad, ValueError) and "unlucky" in str(bad)
    assert calls[0] == [1, 13, 2, 3] and calls[1:] == [[1], [13, 2], [3]]


def test_a_lone_request_waits_for_company_up_to_the_timeout():
    async def scenario(batcher):
        began = time.monotonic()
        result = await batcher.submit([5])
        return result, time.monotonic() - began
    (result, waited), _ = _run(scenario, max_batch_size=8, batch_timeout_micros=100_000)
    assert result == [10] and waited >= 0.09


def test_drain_runs_a_waiting_batch_at_once():
    async def scenario(batcher):
        pending = asyncio.ensure_future(batcher.submit([6]))
        await asyncio.sleep(0.05)
        assert not pending.done()   # waiting for company, up to 30 s
        batcher.drain()
        return await asyncio.wait_for(pending, 5)
    result, _ = _run(scenario, max_batch_size=8, batch_timeout_micros=30_000_000)
    assert result == [12]


@pytest.mark.parametrize("threads", [1, 2])
def test_close_answers_everything_queued(threads):
    async def scenario(batcher):
        pending = [asyncio.ensure_future(batcher.submit([i])) for i in range(10)]
        await asyncio.sleep(0)
        await batcher.close()
        return [p.result() for p in pending]
    results, calls = _run(scenario, max_batch_size=4, batch_timeout_micros=30_000_000,
                          num_batch_threads=threads)
    assert results == [[2 * i] for i in range(10)]
    assert sum(map(len, calls)) == 10


def test_two_batch_threads_fill_one_batch_at_a_time_and_run_two_at_once():
    """8 requests arriving one by one, batches of 4, 2 threads: two full calls (not
    partial ones formed side by side), and both calls in the model at the same time."""
    import threading
    both_in = threading.Barrier(2, timeout=10)
    calls = []

    def model(instances):
        calls.append(list(instances))
        both_in.wait()   # raises BrokenBarrierError unless two calls overlap
        return [2 * x for x in instances]

    async def main():
        with concurrent.futures.ThreadPoolExecutor(2) as executor:
            batcher = Batcher(model, executor, max_batch_size=4,
                              batch_timeout_micros=30_000_000, num_batch_threads=2)
            try:
                pending = []
                for i in range(8):   # one by one, as clients arrive
                    pending.append(asyncio.ensure_future(batcher.submit([i])))
                    await asyncio.sleep(0.01)
                return await asyncio.gather(*pending)
            finally:
                await batcher.close()
    assert asyncio.run(main()) == [[2 * i] for i in range(8)]
    assert sorted(calls) == [[0, 1, 2, 3], [4, 5, 6, 7]]
