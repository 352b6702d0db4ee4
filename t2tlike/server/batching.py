"""Dynamic batching: the instances of concurrent requests go to the model in one call.

TensorFlow Serving's batching parameters, same names and meaning: a batch is closed when
it holds `max_batch_size` instances or when `batch_timeout_micros` have passed since its
first request arrived, whichever comes first; `num_batch_threads` batches run at once.
Batches are formed one at a time, so concurrent requests fill one batch rather than
several half-empty ones, and the next batch fills while others run. A request is never
split across batches unless it alone is larger than `max_batch_size` (then it runs in
chunks of that size). The model runs in worker threads, the event loop only queues and
answers.

`run(instances) -> per-instance results` may raise for a whole batch; then every request
of that batch is run again alone, so a request that fails inside the model fails alone
and its neighbours get their answers.
"""
import asyncio
import time


class Batcher:
    """Queues requests (lists of instances) for `run`, one model call per batch."""

    def __init__(self, run, executor, max_batch_size=64, batch_timeout_micros=10000,
                 num_batch_threads=1, on_batch=None):
        self._run, self._executor = run, executor
        self.max_batch_size = max(int(max_batch_size), 1)
        self.timeout_s = max(batch_timeout_micros, 0) / 1e6
        self._queue = asyncio.Queue()
        self._held = None   # a request taken from the queue that did not fit the last batch
        self._draining = asyncio.Event()
        self._on_batch = on_batch or (lambda size, seconds: None)
        self._forming = asyncio.Lock()   # one batch is formed at a time
        self._workers = [asyncio.ensure_future(self._work())
                         for _ in range(max(int(num_batch_threads), 1))]

    async def submit(self, instances):
        """-> the results of `instances`, in order; raises what their model call raised."""
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((list(instances), future))
        return await future

    def drain(self):
        """Stop waiting for batches to fill: run what is queued at once (shutting down)."""
        self._draining.set()

    async def close(self):
        """Runs what is queued, then stops the workers."""
        self.drain()
        await self._queue.join()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _next(self, timeout):
        if self._held is not None:
            request, self._held = self._held, None
            return request
        if timeout is None:
            return await self._queue.get()
        if not self._queue.empty():
            return self._queue.get_nowait()
        getting = asyncio.ensure_future(self._queue.get())
        draining = asyncio.ensure_future(self._draining.wait())
        await asyncio.wait([getting, draining], timeout=max(timeout, 0),
                           return_when=asyncio.FIRST_COMPLETED)
        draining.cancel()
        if getting.done():
            return getting.result()
        getting.cancel()   # an unfinished get takes nothing from the queue
        raise asyncio.TimeoutError

    async def _collect(self):
        batch = [await self._next(None)]
        size = len(batch[0][0])
        deadline = time.monotonic() + self.timeout_s
        while size < self.max_batch_size:
            wait = 0 if self._draining.is_set() else deadline - time.monotonic()
            if wait <= 0 and self._queue.empty():
                break
            try:
                request = await self._next(wait)
            except asyncio.TimeoutError:
                break
            if size + len(request[0]) > self.max_batch_size:
                self._held = request   # first in the next batch
                break
            batch.append(request)
            size += len(request[0])
        return batch

    async def _work(self):
        loop = asyncio.get_running_loop()
        while True:
            async with self._forming:
                batch = await self._collect()
            try:
                await self._answer(loop, batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _answer(self, loop, batch):
        instances = [x for request, _ in batch for x in request]
        try:
            results = await self._call(loop, instances)
        except Exception as error:   # noqa: BLE001  (one bad request must not fail its neighbours)
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            for request, future in batch:   # each alone: only the bad one fails
                try:
                    _settle(future, result=await self._call(loop, request))
                except Exception as alone:   # noqa: BLE001
                    _settle(future, error=alone)
            return
        start = 0
        for request, future in batch:
            _settle(future, result=results[start:start + len(request)])
            start += len(request)

    async def _call(self, loop, instances):
        results = []
        for start in range(0, len(instances), self.max_batch_size):
            chunk = instances[start:start + self.max_batch_size]
            began = time.monotonic()
            results.extend(await loop.run_in_executor(self._executor, self._run, chunk))
            self._on_batch(len(chunk), time.monotonic() - began)
        return results


def _settle(future, result=None, error=None):
    if future.done():   # the client went away and its handler was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
