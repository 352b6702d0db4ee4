"""t2t-serve as a user starts it: the console script on a free port answers, and SIGTERM
finishes the request in flight before it exits 0; bad flags and config files are one
message and exit 2."""
import json
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from cli_helpers import console_script
from server_helpers import write_fake_export

pytest.importorskip("aiohttp")


def _lines(stream, into):
    for line in stream:
        into.put(line)


@pytest.mark.slow
def test_the_server_answers_and_sigterm_finishes_the_request_in_flight(tmp_path):
    write_fake_export(tmp_path / "export" / "7")
    proc = subprocess.Popen(console_script("t2t-serve") + [
        "--model_name=m", f"--model_base_path={tmp_path / 'export'}", "--port=0",
        "--batch_timeout_micros=20000000"], stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL)
    lines, seen = queue.Queue(), []
    threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True).start()
    try:
        port = None
        while port is None:
            seen.append(lines.get(timeout=120))
            match = re.search(r"REST API at http://127\.0\.0\.1:(\d+)/v1/models/m", seen[-1])
            port = match and int(match[1])
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/m:predict",
                                         data=json.dumps({"instances": ["hi"]}).encode())
        answers = []
        client = threading.Thread(target=lambda: answers.append(
            json.load(urllib.request.urlopen(request, timeout=60))))
        client.start()
        time.sleep(1.0)   # the request waits in its batch (up to 20 s) when SIGTERM comes
        assert not answers
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        client.join(60)
        assert proc.wait(60) == 0
        assert time.monotonic() - began < 15   # drained at once, not after the timeout
    finally:
        proc.kill()
    while not lines.empty():
        seen.append(lines.get())
    assert answers == [{"predictions": [{"outputs": "HI|v1", "scores": -2.0, "batch": 1}]}]
    log = "".join(seen)
    assert "Serving m version 7" in log and "Stopped." in log and "Traceback" not in log


def test_bad_flags_and_config_files_are_one_message(run_cli, tmp_path):
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'a' base_path: '/a' "
                      "model_version_policy { latest { num_versions: 2 } } } }")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    write_fake_export(tmp_path / "export" / "1")
    cases = [
        ([], "missing required flag: --model_base_path"),
        ([f"--model_base_path={tmp_path / 'none'}"], "is not a folder"),
        ([f"--model_config_file={config}"], "['model_version_policy'] are not supported"),
        ([f"--model_config_file={tmp_path / 'missing.config'}"], "is not a file"),
        ([f"--model_base_path={tmp_path / 'export'}", "--port=70000"], "not a port number"),
        ([f"--model_base_path={tmp_path / 'export'}", f"--port={taken.getsockname()[1]}"],
         "cannot listen on 127.0.0.1"),
    ]
    try:
        for args, message in cases:
            code, _, err = run_cli("t2t-serve", *args)
            assert code == 2 and message in err and "Traceback" not in err, (args, err)
    finally:
        taken.close()
