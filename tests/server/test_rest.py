"""TensorFlow Serving's REST API, on a real server on 127.0.0.1 (a free port) with a real
HTTP client (aiohttp): both request formats, batching of concurrent clients, failures
that stay with their request, TF Serving's error shapes, status and metadata, and a new
version picked up without a restart."""
import asyncio
import base64
import os
import shutil

import pytest

from server_helpers import get, post, run, running, write_fake_export

pytest.importorskip("aiohttp")


def test_row_and_columnar_requests_get_tf_servings_answers(fake_export):
    async def scenario():
        async with running({"m": str(fake_export)}) as (session, url):
            row = await post(session, f"{url}/m:predict",
                             {"instances": ["a b", {"b64": base64.b64encode(b"c").decode()}]})
            named = await post(session, f"{url}/m/versions/1:predict",
                               {"instances": [{"strings": "d"}]})
            columns = await post(session, f"{url}/m:predict", {"inputs": ["e f", "g"]})
            single = await post(session, f"{url}/m:predict",
                                {"signature_name": "input_lengths", "instances": ["a b c"]})
            ids = await post(session, f"{url}/m:predict",
                             {"signature_name": "serving_ids", "instances": [[1, 2, 3], [4]]})
            return row, named, columns, single, ids
    row, named, columns, single, ids = run(scenario())
    assert row[0] == 200
    assert [(p["outputs"], p["scores"]) for p in row[1]["predictions"]] == [
        ("A B|v1", -3.0), ("C|v1", -1.0)]
    assert named == (200, {"predictions": [{"outputs": "D|v1", "scores": -1.0, "batch": 1}]})
    assert columns[0] == 200 and columns[1]["outputs"]["outputs"] == ["E F|v1", "G|v1"]
    assert single == (200, {"predictions": [3]})   # one output: the value itself
    assert ids[0] == 200 and [p["outputs"] for p in ids[1]["predictions"]] == [[2, 4, 6], [8, 0, 0]]


def test_concurrent_clients_share_model_calls_and_a_failure_stays_with_its_request(fake_export):
    async def scenario():
        async with running({"m": str(fake_export)}, max_batch_size=8,
                           batch_timeout_micros=20_000_000) as (session, url):
            batched = await asyncio.gather(*(
                post(session, f"{url}/m:predict", {"instances": [f"line {i}"]})
                for i in range(8)))
            mixed = await asyncio.gather(*(
                post(session, f"{url}/m:predict", {"instances": [text]})
                for text in ["ok", "fail", "fine", "good"] * 2))
            too_long = await asyncio.gather(*(   # refused before batching: 8 fill the batch
                post(session, f"{url}/m:predict", {"instances": [text]})
                for text in ["a b c d e f"] + [f"w{i}" for i in range(8)]))
            return batched, mixed, too_long
    batched, mixed, too_long = run(scenario())
    assert too_long[0][0] == 400 and "6 ids long" in too_long[0][1]["error"]
    assert {(status, answer["predictions"][0]["batch"]) for status, answer in too_long[1:]} == {
        (200, 8)}
    assert [status for status, _ in batched] == [200] * 8
    assert {answer["predictions"][0]["batch"] for _, answer in batched} == {8}   # one call
    assert [answer["predictions"][0]["outputs"] for _, answer in batched] == [
        f"LINE {i}|v1" for i in range(8)]
    for (status, answer), text in zip(mixed, ["ok", "fail", "fine", "good"] * 2):
        if text == "fail":
            assert status == 400 and "an input was 'fail'" in answer["error"]
        else:
            assert status == 200 and answer["predictions"][0]["outputs"] == f"{text.upper()}|v1"


BAD = [
    ("m:predict", "{not json", 400, "JSON Parse error"),
    ("m:predict", {"instance": ["a"]}, 400, "unknown field(s) ['instance']"),
    ("m:predict", {"signature_name": "serving_default"}, 400, "Missing 'inputs' or 'instances'"),
    ("m:predict", {"instances": ["a"], "inputs": ["a"]}, 400, "Not both"),
    ("m:predict", {"instances": []}, 400, "non-empty list"),
    ("m:predict", {"instances": ["a", 5]}, 400, "instance 1: input 'strings'"),
    ("m:predict", {"instances": [{"b64": "%%%"}]}, 400, "not valid base64"),
    ("m:predict", {"instances": ["a"], "signature_name": "nope"}, 400,
     'Serving signature name: "nope" not found'),
    ("m:predict", {"instances": ["a b c d e f"]}, 400, "6 ids long; this model takes at most 5"),
    ("m:predict", {"signature_name": "serving_ids", "instances": [[1, 99]]}, 400, "99"),
    ("m:predict", {"signature_name": "serving_ids", "instances": [[1.5]]}, 400, "int32"),
    ("nobody:predict", {"instances": ["a"]}, 404, "Servable not found for request: Latest(nobody)"),
    ("m/versions/7:predict", {"instances": ["a"]}, 404,
     "Servable not found for request: Specific(m, 7)"),
    ("m:classify", {"instances": ["a"]}, 400, "answers :predict"),
]


def test_bad_requests_get_an_error_and_a_4xx_and_the_server_goes_on(fake_export):
    async def scenario():
        async with running({"m": str(fake_export)}) as (session, url):
            answers = [await post(session, f"{url}/{path}", payload)
                       for path, payload, _, _ in BAD]
            answers.append(await get(session, f"{url}/m:predict"))
            answers.append(await get(session, url.replace("/v1/models", "/v2/nothing")))
            answers.append(await post(session, f"{url}/m:predict", {"instances": ["still"]}))
            return answers
    answers = run(scenario())
    expected = [(status, message) for _, _, status, message in BAD] + [
        (405, "takes POST"), (404, "Not Found")]
    for (status, answer), (want_status, message) in zip(answers, expected):
        assert status == want_status and list(answer) == ["error"], (message, answer)
        assert message in answer["error"], (message, answer)
    assert answers[-1] == (200, {"predictions": [{"outputs": "STILL|v1", "scores": -5.0,
                                                  "batch": 1}]})


def test_status_and_metadata_follow_a_new_version_and_a_broken_one_is_reported(fake_export,
                                                                               tmp_path):
    base = tmp_path / "model"
    shutil.copytree(fake_export, base)

    async def wait_for(session, url, version):
        for _ in range(200):
            status, answer = await get(session, f"{url}/m")
            if [s["version"] for s in answer["model_version_status"]
                    if s["state"] == "AVAILABLE"] == [version]:
                return answer
            await asyncio.sleep(0.05)
        raise AssertionError(f"version {version} never served: {answer}")

    async def scenario():
        async with running({"m": str(base)}, poll_seconds=0.05) as (session, url):
            first = await get(session, f"{url}/m")
            metadata = await get(session, f"{url}/m/metadata")
            write_fake_export(tmp_path / ".2.incomplete", tag="v2")   # as t2t-exporter does
            os.replace(tmp_path / ".2.incomplete", base / "2")
            await wait_for(session, url, "2")
            new = await post(session, f"{url}/m:predict", {"instances": ["x"]})
            old = await post(session, f"{url}/m/versions/1:predict", {"instances": ["x"]})
            (base / "3").mkdir()
            (base / "3" / "saved_model.pb").write_bytes(b"not a SavedModel")
            for _ in range(200):
                status = (await get(session, f"{url}/m"))[1]["model_version_status"]
                if len(status) == 2:
                    break
                await asyncio.sleep(0.05)
            still = await post(session, f"{url}/m:predict", {"instances": ["y"]})
            return first, metadata, new, old, status, still
    first, metadata, new, old, status, still = run(scenario())
    assert first == (200, {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK",
                                                          "error_message": ""}}]})
    spec = metadata[1]["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert metadata[1]["model_spec"] == {"name": "m", "signature_name": "", "version": "1"}
    assert spec["inputs"]["strings"]["dtype"] == "DT_STRING"
    assert set(spec["outputs"]) == {"outputs", "scores", "batch"}
    assert spec["methodName"] == "tensorflow/serving/predict"
    assert new[1]["predictions"][0]["outputs"] == "X|v2"
    assert old[0] == 404
    assert status[0]["version"] == "2" and status[0]["state"] == "AVAILABLE"
    assert status[1]["version"] == "3" and status[1]["state"] == "END"
    assert status[1]["status"]["error_message"]
    assert still[1]["predictions"][0]["outputs"] == "Y|v2"


def test_a_request_not_answered_in_time_gets_a_504_and_the_server_goes_on(fake_export):
    async def scenario():
        async with running({"m": str(fake_export)}, batch_timeout_micros=20_000_000,
                           max_batch_size=2, request_timeout_seconds=0.3) as (session, url):
            late = await post(session, f"{url}/m:predict", {"instances": ["alone"]})
            full = await post(session, f"{url}/m:predict", {"instances": ["a", "b"]})
            return late, full
    (status, answer), full = run(scenario())
    assert status == 504 and "not answered within 300 ms" in answer["error"]
    assert full[0] == 200 and [p["outputs"] for p in full[1]["predictions"]] == ["A|v1", "B|v1"]
