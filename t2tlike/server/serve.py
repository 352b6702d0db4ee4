"""The server: models, their version watcher, the REST API, and a clean shutdown.

    server = Server({"ende": "runs/ende/export"}, port=8501)
    server.run()          # until SIGTERM or Ctrl-C

or, inside an event loop, `await server.start()` ... `await server.stop()`. Stopping (or
SIGTERM) stops accepting connections, runs what is queued at once, lets the requests in
flight finish (up to `shutdown_timeout` seconds), then unloads the models.
"""
import asyncio
import concurrent.futures
import signal

from absl import logging
from aiohttp import web

from t2tlike.run_config import cpu_cores
from t2tlike.server import rest, servables


class Server:
    """Serves `models` ({name: base path}) over HTTP on `host`:`port` (0: a free port);
    `num_batch_threads` batches run at once (0: one per CPU core, at most 8)."""

    def __init__(self, models, host="127.0.0.1", port=8501, max_batch_size=64,
                 batch_timeout_micros=10000, num_batch_threads=1, max_input_length=-1,
                 poll_seconds=1.0, report_seconds=60.0, shutdown_timeout=60.0,
                 request_timeout_seconds=0.0):
        # 0: one batch per CPU core at once (at most 8), as TensorFlow Serving's default
        num_batch_threads = int(num_batch_threads) or min(cpu_cores(), 8)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            num_batch_threads, thread_name_prefix="model")
        batching = dict(max_batch_size=max_batch_size,
                        batch_timeout_micros=batch_timeout_micros,
                        num_batch_threads=num_batch_threads)
        self.models = {name: servables.Model(name, path, self._executor, max_input_length,
                                             **batching) for name, path in models.items()}
        self.host, self.port = host, port
        self.poll_seconds, self.report_seconds = poll_seconds, report_seconds
        self.shutdown_timeout = shutdown_timeout
        self.request_timeout_seconds = request_timeout_seconds   # 0: a request may wait
        self._runner, self._tasks = None, []

    async def start(self):
        """Loads each model's newest version, starts watching and listening; -> the port."""
        for model in self.models.values():
            await model.refresh()
            if model.current is None:
                logging.warning("No version of %s in %s yet (a numbered folder with "
                                "saved_model.pb); it is served once one appears.", model.name,
                                model.base_path)
        app = rest.make_app(self.models, timeout_seconds=self.request_timeout_seconds)
        app.on_shutdown.append(self._drain)
        app.on_cleanup.append(self._unload)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._tasks = [asyncio.ensure_future(self._watch()),
                       asyncio.ensure_future(rest.report_every(app, self.report_seconds))]
        for name in self.models:
            logging.info("REST API at http://%s:%d/v1/models/%s", self.host, self.port, name)
        return self.port

    async def stop(self):
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _watch(self):
        while True:
            await asyncio.sleep(self.poll_seconds)
            for model in self.models.values():
                await model.refresh()

    async def _drain(self, app):
        """Shutting down: no more polling; queued requests run without waiting to fill."""
        for task in self._tasks:
            task.cancel()
        for model in self.models.values():
            if model.current is not None:
                for batcher in model.current.batchers.values():
                    batcher.drain()

    async def _unload(self, app):
        for model in self.models.values():
            if model.current is not None:
                await model.current.close()
        for name, stats in app[rest.API].stats.items():
            stats.report(name)
        self._executor.shutdown(wait=True)

    def run(self):
        """Serves until SIGTERM or SIGINT, then shuts down cleanly."""
        async def main():
            stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stopping.set)
            await self.start()
            await stopping.wait()
            logging.info("Stopping: finishing the requests in flight ...")
            await self.stop()
            logging.info("Stopped.")
        asyncio.run(main())
