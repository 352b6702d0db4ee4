"""Benchmark: an export's decoding speed in-process and through t2t-serve under load.

  python benchmarks/serve_load.py --export=$O/export --input=test.en \
      [--reference=decoder.txt] [--clients=1,8,64] [--batch_size=64] \
      [--num_batch_threads=1] [--skip_in_process]

1. serving.Translator on the newest export under --export: the whole --input in batches
   of --batch_size, after one warm-up batch -> sentences/s (the SavedModel's own speed).
2. t2t-serve (a child process, a free loopback port, --max_batch_size=--batch_size,
   --num_batch_threads, and its default batch_timeout_micros) and, for each --clients
   count, that many concurrent clients (aiohttp), each sending one sentence per request
   and the next as soon as the answer comes, until every line of --input is answered ->
   sentences/s and the latency of a request (p50, p99). Then SIGTERM; the server must
   exit 0. --skip_in_process leaves out step 1.

With --reference (t2t-decoder's output for --input with the decode hparams the export
was made with), each row also says how many outputs are identical to it. Figures:
docs/benchmarks.md ("Serving"). Nothing else heavy should run meanwhile.
"""
import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def in_process(export, lines, batch_size):
    from t2tlike import serving
    translate = serving.Translator(export, batch_size=batch_size)
    translate(lines[:batch_size])   # the first call of the loaded graph
    began = time.monotonic()
    outputs = translate(lines)
    return outputs, time.monotonic() - began, translate.export_dir


def start_server(base, batch_size, num_batch_threads):
    proc = subprocess.Popen(
        [sys.executable, "-m", "t2tlike_cli.t2t_serve", "--model_name=m",
         f"--model_base_path={base}", "--port=0", f"--max_batch_size={batch_size}",
         f"--num_batch_threads={num_batch_threads}"],
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    found = {}
    ready = threading.Event()

    def read():
        for line in proc.stderr:
            match = re.search(r"REST API at http://[\d.]+:(\d+)/", line)
            if match:
                found["port"] = int(match[1])
                ready.set()
            if "Traceback" in line or "error" in line.lower():
                sys.stderr.write(line)
    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(300):
        proc.kill()
        sys.exit("t2t-serve did not start within 300 s")
    return proc, found["port"]


async def load(url, lines, clients):
    import aiohttp
    outputs, latencies = [None] * len(lines), []
    next_line = iter(range(len(lines)))

    async def client(session):
        for i in next_line:
            began = time.monotonic()
            async with session.post(url, json={"instances": [lines[i]]}) as answer:
                body = await answer.json()
            latencies.append(time.monotonic() - began)
            if answer.status != 200:
                raise RuntimeError(f"line {i}: {answer.status} {body}")
            outputs[i] = body["predictions"][0]["outputs"]

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await client_warm_up(session, url, lines)
        began = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        seconds = time.monotonic() - began
    return outputs, seconds, latencies


async def client_warm_up(session, url, lines):
    async with session.post(url, json={"instances": lines[:8]}) as answer:
        await answer.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True, help="t2t-exporter's <output_dir>/export")
    parser.add_argument("--input", required=True)
    parser.add_argument("--reference", help="t2t-decoder's output for --input")
    parser.add_argument("--clients", default="1,8,64")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--num_batch_threads", type=int, default=1,
                        help="t2t-serve's (0: one per CPU core)")
    parser.add_argument("--skip_in_process", action="store_true",
                        help="only the t2t-serve rows")
    args = parser.parse_args()
    with open(args.input, encoding="utf-8") as f:
        lines = f.read().splitlines()
    reference = None
    if args.reference:
        with open(args.reference, encoding="utf-8") as f:
            reference = f.read().splitlines()

    def same(outputs):
        return "" if reference is None else \
            f"{sum(a == b for a, b in zip(outputs, reference))}/{len(lines)}"

    rows = []
    if not args.skip_in_process:
        outputs, seconds, export = in_process(args.export, lines, args.batch_size)
        rows.append(("Translator (in-process)", f"batches of {args.batch_size}",
                     len(lines) / seconds, None, None, same(outputs)))
        print(f"export {export}; {len(lines)} lines", flush=True)
    proc, port = start_server(args.export, args.batch_size, args.num_batch_threads)
    url = f"http://127.0.0.1:{port}/v1/models/m:predict"
    try:
        for clients in (int(c) for c in args.clients.split(",")):
            outputs, seconds, latencies = asyncio.run(load(url, lines, clients))
            p50, p99 = np.percentile(latencies, [50, 99])
            rows.append((f"t2t-serve, num_batch_threads={args.num_batch_threads}",
                         f"{clients} clients, 1 line each", len(lines) / seconds,
                         p50, p99, same(outputs)))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(120)
    print(f"t2t-serve exited with {code} after SIGTERM\n")
    print("| how | load | sentences/s | latency p50 | latency p99 | identical to t2t-decoder |")
    print("|---|---|---|---|---|---|")
    for how, load_, rate, p50, p99, ident in rows:
        p50 = "" if p50 is None else f"{p50 * 1000:.0f} ms"
        p99 = "" if p99 is None else f"{p99 * 1000:.0f} ms"
        print(f"| {how} | {load_} | {rate:.1f} | {p50} | {p99} | {ident} |")


if __name__ == "__main__":
    main()
