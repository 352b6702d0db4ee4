"""data_generators/translate.py and translate_ende.py: WMT-shaped archives made here,
streamed reading, bad input, offline errors and resumable downloads."""
import gzip
import hashlib
import http.server
import importlib
import io
import os
import random
import tarfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import helpers
from data_generators import download, generator_utils, text_encoder, translate, translate_ende
from data_generators.problem import DatasetSplit
from t2tlike import registry
from t2tlike.errors import UserError
from t2tlike.files import LOCK_FILE

WORDS = {"the": "das", "house": "Haus", "is": "ist", "small": "klein", "green": "grün",
         "dog": "Hund", "runs": "läuft", "fast": "schnell", "very": "sehr", "old": "alt",
         "tree": "Baum", "big": "groß", "and": "und", "white": "weiß", "sun": "Sonne"}


def pairs(n, seed):
    """n (english, german) word-by-word pairs, deterministic."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.choices(sorted(WORDS), k=rng.randint(3, 8))
        out.append((" ".join(words), " ".join(WORDS[w] for w in words)))
    return out


def lines(texts):
    return ("\n".join(texts) + "\n").encode("utf-8")


def write_tgz(path, members):
    """A .tgz at path holding {member name: bytes}."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def sgm(texts, lang):
    rows = [f'<srcset setid="newstest2014" srclang="{lang}">', '<doc docid="1" genre="news">',
            "<p>"]
    rows += [f'<seg id="{i + 1}">{t}</seg>' for i, t in enumerate(texts)]
    rows += ["</p>", "</doc>", "</srcset>"]
    return lines(rows)


CORPORA = {  # archive name -> (english member, german member), as in translate_ende.py
    os.path.basename(url): members for url, members in
    translate_ende.ENDE_TRAIN_DATASETS + translate_ende.ENDE_DEV_DATASETS}


def make_wmt_tmp_dir(tmp_dir, n=60, dev=None):
    """tmp_dir with the four WMT archives under their real names and member names.

    The training corpora carry one pair with an empty side each (to be skipped).
    Returns {split: [(en, de), ...]} of what the splits should hold.
    """
    os.makedirs(tmp_dir, exist_ok=True)
    expected = {DatasetSplit.TRAIN: []}
    for seed, (url, (en, de)) in enumerate(translate_ende.ENDE_TRAIN_DATASETS):
        data = pairs(n, seed)
        expected[DatasetSplit.TRAIN] += data
        en_lines = [e for e, _ in data] + ["a lonely line"]
        de_lines = [d for _, d in data] + ["   "]
        write_tgz(os.path.join(tmp_dir, os.path.basename(url)),
                  {"README": b"readme\n", en: lines(en_lines), de: lines(de_lines)})
    expected[DatasetSplit.EVAL] = dev or pairs(20, 10)
    expected[DatasetSplit.TEST] = pairs(15, 11)
    (dev_url, (dev_en, dev_de)), = translate_ende.ENDE_DEV_DATASETS
    (_, (test_en, test_de)), = translate_ende.ENDE_TEST_DATASETS
    write_tgz(os.path.join(tmp_dir, "dev.tgz"), {
        "dev/newstest2012.en": lines(["unrelated"]),
        dev_en: lines([e for e, _ in expected[DatasetSplit.EVAL]]),
        dev_de: lines([d for _, d in expected[DatasetSplit.EVAL]]),
        test_en: sgm([e for e, _ in expected[DatasetSplit.TEST]], "en"),
        test_de: sgm([d for _, d in expected[DatasetSplit.TEST]], "de")})
    return expected


class TinyEnde(translate_ende.TranslateEndeWmt8k):
    """translate_ende_wmt8k with a tiny vocabulary and few shards, so it builds in seconds."""

    approx_vocab_size = 60
    max_samples_for_vocab = 300
    dataset_splits = [{"split": DatasetSplit.TRAIN, "shards": 2},
                      {"split": DatasetSplit.EVAL, "shards": 1},
                      {"split": DatasetSplit.TEST, "shards": 1}]


TINY_NAME = "tiny_translate_ende_for_tests"


@pytest.fixture
def tiny_registered():
    registry.register_problem(TINY_NAME)(TinyEnde)
    yield TINY_NAME
    registry.problems.unregister(TINY_NAME)


def run_datagen(*args):
    """t2t-datagen in this process -> exit code (0, or 2 for a UserError)."""
    from absl import flags
    module = importlib.import_module("t2tlike_cli.t2t_datagen")
    flags.FLAGS.unparse_flags()
    try:
        return module.cli.run(module.main, ["t2t-datagen", *args]) or 0
    except SystemExit as e:
        return e.code


@pytest.fixture
def no_network(monkeypatch):
    """urlopen fails as it does offline; returns the list of URLs that were tried."""
    tried = []

    def offline(request, *args, **kwargs):
        tried.append(getattr(request, "full_url", request))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tried


# -- the whole problem through t2t-datagen ----------------------------------------------

def test_datagen_builds_shards_and_vocab_that_decode_back(tmp_path, tiny_registered,
                                                          no_network, capsys):
    tmp_dir, data_dir = tmp_path / "tmp", tmp_path / "data"
    expected = make_wmt_tmp_dir(tmp_dir)
    assert run_datagen(f"--problem={tiny_registered}", f"--data_dir={data_dir}",
                       f"--tmp_dir={tmp_dir}") == 0, capsys.readouterr().err
    assert no_network == []                                  # everything was in tmp_dir
    problem = registry.problem(tiny_registered)
    vocab = data_dir / problem.vocab_filename
    assert vocab.name == f"vocab.{TINY_NAME}.60.model" and vocab.exists()
    encoder = text_encoder.SentencePieceEncoder(str(vocab))
    for split, shards in (("train", 2), ("dev", 1), ("test", 1)):
        paths = helpers.split_paths(data_dir, problem, split)
        assert [os.path.basename(p) for p in paths] == [
            f"{TINY_NAME}-{split}-{i:05d}-of-{shards:05d}" for i in range(shards)]
        decoded = {(encoder.decode(r["inputs"], strip_extraneous=True),
                    encoder.decode(r["targets"], strip_extraneous=True))
                   for r in helpers.read_records(paths)}
        assert all(r["inputs"][-1] == text_encoder.EOS_ID
                   for r in helpers.read_records(paths))
        assert decoded == set(expected[split])     # no empty pairs, no <seg> tags
    assert len(helpers.read_records(helpers.split_paths(data_dir, problem, "train"))) == 180
    assert helpers.temp_files(data_dir) == [] and helpers.temp_files(tmp_dir) == []
    # the _rev problem reads the same files with the sides swapped
    rev = registry.problem(tiny_registered + "_rev")
    assert rev.data_files(str(data_dir), "dev") == problem.data_files(str(data_dir), "dev")


def test_generate_samples_streams_archives_plain_and_gz_files(tmp_path):
    data = pairs(5, 3)
    write_tgz(tmp_path / "corpus.tar.gz", {"./c/x.en": lines([e for e, _ in data]),
                                           "./c/x.de": lines([d for _, d in data])})
    with gzip.open(tmp_path / "f.en.gz", "wb") as f:
        f.write(lines([e for e, _ in data]))
    (tmp_path / "f.de").write_bytes(lines([d for _, d in data]).replace(b"\n", b"\r\n"))
    from_archive = list(translate.parallel_samples(
        str(tmp_path), ["http://x/corpus.tar.gz", ("c/x.en", "c/x.de")]))
    from_files = list(translate.parallel_samples(
        str(tmp_path), ["http://x/folder/", ("f.en.gz", "f.de")]))
    expected = [{"inputs": e, "targets": d} for e, d in data]
    assert from_archive == expected and from_files == expected


def test_extracted_members_are_read_instead_of_the_archive(tmp_path, no_network):
    data = pairs(4, 5)
    (tmp_path / "training").mkdir()
    (tmp_path / "training/europarl-v7.de-en.en").write_bytes(lines([e for e, _ in data]))
    (tmp_path / "training/europarl-v7.de-en.de").write_bytes(lines([d for _, d in data]))
    dataset = translate_ende.ENDE_TRAIN_DATASETS[2]
    problem = TinyEnde()
    problem.source_data_files = lambda split: [dataset]
    samples = list(problem.generate_samples(None, str(tmp_path), DatasetSplit.TRAIN))
    assert [(s["inputs"], s["targets"]) for s in samples] == data
    assert no_network == []


def test_vocab_text_takes_a_share_of_every_training_corpus(tmp_path):
    make_wmt_tmp_dir(tmp_path, n=60)
    problem = TinyEnde()
    problem.max_samples_for_vocab = 30
    text = problem.generate_text_for_vocab(None, str(tmp_path))
    assert isinstance(text, list) and len(text) == 2 * 30            # 10 pairs per corpus
    for seed in range(3):
        assert pairs(60, seed)[0][0] in text and pairs(60, seed)[9][1] in text


def test_registered_wmt_problems():
    ende, t2t_name = registry.problem("translate_ende"), registry.problem("translate_ende_wmt32k")
    small = registry.problem("translate_ende_wmt8k")
    assert (ende.approx_vocab_size, t2t_name.approx_vocab_size) == (2 ** 15, 2 ** 15)
    assert small.approx_vocab_size == 2 ** 13
    assert ende.dataset_filename() == t2t_name.dataset_filename() == "translate_ende"
    assert ende.vocab_filename == t2t_name.vocab_filename == "vocab.translate_ende.32768.model"
    assert small.vocab_filename == "vocab.translate_ende_wmt8k.8192.model"
    # An alias: the same problem, named as its target.
    assert type(t2t_name) is type(ende) and t2t_name.name == "translate_ende"
    assert registry.problems.aliases()["translate_ende_wmt32k"] == "translate_ende"
    rev = registry.problem("translate_ende_wmt32k_rev")
    assert rev.name == "translate_ende_rev" and rev.was_reversed
    assert rev.dataset_filename() == "translate_ende"
    assert translate_ende.TranslateEndeWmt32k is translate_ende.TranslateEnde
    assert [s["split"] for s in ende.dataset_splits] == ["train", "dev", "test"]
    urls = {url for split in ("train", "dev", "test") for url, _ in ende.source_data_files(split)}
    assert len(urls) == 4 and all(translate.is_archive(u) for u in urls)
    assert "bleu" in ende.eval_metrics()


# -- offline -----------------------------------------------------------------------------

def test_offline_error_lists_every_missing_file_and_url(tmp_path, tiny_registered, no_network,
                                                        capsys):
    tmp_dir, data_dir = tmp_path / "tmp", tmp_path / "data"
    tmp_dir.mkdir()
    code = run_datagen(f"--problem={tiny_registered}", f"--data_dir={data_dir}",
                       f"--tmp_dir={tmp_dir}")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    urls = [url for url, _ in translate_ende.ENDE_TRAIN_DATASETS + translate_ende.ENDE_DEV_DATASETS]
    assert "could not download 4 source file(s)" in err
    for url in urls:
        assert url in err and str(tmp_dir / os.path.basename(url)) in err
    assert err.count("dev.tgz") == 2                        # listed once, for dev and test
    assert sorted(no_network) == sorted(urls)
    assert [p.name for p in data_dir.iterdir()] == [LOCK_FILE]   # no vocab, no shards


def test_offline_error_leaves_out_files_already_there(tmp_path, no_network):
    make_wmt_tmp_dir(tmp_path)
    os.remove(tmp_path / "training-parallel-commoncrawl.tgz")
    with pytest.raises(UserError) as err:
        TinyEnde().generate_data(str(tmp_path / "data"), str(tmp_path))
    message = str(err.value)
    assert "could not download 1 source file(s)" in message
    assert "http://www.statmt.org/wmt13/training-parallel-commoncrawl.tgz" in message
    assert "nc-v13" not in message and "dev.tgz" not in message


# -- bad input ---------------------------------------------------------------------------

def test_mismatched_line_counts_name_both_files_and_leave_no_partial_shards(tmp_path):
    dev = pairs(20, 10)
    make_wmt_tmp_dir(tmp_path, dev=dev)
    (dev_url, (dev_en, dev_de)), = translate_ende.ENDE_DEV_DATASETS
    write_tgz(tmp_path / "dev.tgz", {dev_en: lines([e for e, _ in dev]),
                                     dev_de: lines([d for _, d in dev[:-3]])})
    data_dir = tmp_path / "data"
    problem = TinyEnde()
    with pytest.raises(UserError) as err:
        problem.generate_data(str(data_dir), str(tmp_path))
    message = str(err.value)
    assert f"{tmp_path / 'dev.tgz'}:{dev_en} has 20 lines" in message
    assert f"{tmp_path / 'dev.tgz'}:{dev_de} has 17" in message
    assert helpers.split_paths(data_dir, problem, "dev") == []
    assert len(helpers.split_paths(data_dir, problem, "train")) == 2   # complete ones stay
    assert helpers.temp_files(data_dir) == []


def test_non_utf8_bytes_name_the_file_and_line(tmp_path):
    en = lines(["one", "two", "three", "four"]).replace(b"three", b"thr\xe9e")
    write_tgz(tmp_path / "c.tgz", {"x.en": en, "x.de": lines(["eins", "zwei", "drei", "vier"])})
    dataset = ["http://x/c.tgz", ("x.en", "x.de")]
    with pytest.raises(UserError, match=r"c.tgz:x.en, line 3: bytes that are not UTF-8"):
        list(translate.parallel_samples(str(tmp_path), dataset))
    skipped = list(translate.parallel_samples(str(tmp_path), dataset, invalid_utf8="skip"))
    assert [s["inputs"] for s in skipped] == ["one", "two", "four"]
    replaced = list(translate.parallel_samples(str(tmp_path), dataset, invalid_utf8="replace"))
    assert replaced[2] == {"inputs": "thr\ufffde", "targets": "drei"}


def test_non_utf8_error_through_datagen_leaves_nothing_behind(tmp_path):
    make_wmt_tmp_dir(tmp_path)
    url, (en, de) = translate_ende.ENDE_TRAIN_DATASETS[1]
    write_tgz(tmp_path / os.path.basename(url),
              {en: b"fine\n\xff\xfebad\n", de: b"gut\nschlecht\n"})
    data_dir = tmp_path / "data"
    with pytest.raises(UserError, match=r"commoncrawl.de-en.en, line 2"):
        TinyEnde().generate_data(str(data_dir), str(tmp_path))
    assert not data_dir.exists() or sorted(os.listdir(data_dir)) == []


def test_empty_lines_are_skipped_and_counted(tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr(translate.logging, "info", lambda msg, *a: logged.append(msg % a))
    (tmp_path / "a.en").write_bytes(b"one\n\ntwo\nthree\n")
    (tmp_path / "a.de").write_bytes(b"eins\nleer\n\ndrei\n")
    samples = list(translate.parallel_samples(str(tmp_path), ["http://x/", ("a.en", "a.de")]))
    assert samples == [{"inputs": "one", "targets": "eins"},
                       {"inputs": "three", "targets": "drei"}]
    assert any("skipped 2 of 4 pairs (2 with an empty side" in m for m in logged)


@pytest.mark.parametrize("keep", [0.3, 0.7])
def test_truncated_archive_says_delete_and_download_again(tmp_path, keep):
    data = pairs(400, 1)
    archive = write_tgz(tmp_path / "c.tgz", {"x.en": lines([e for e, _ in data]),
                                             "x.de": lines([d for _, d in data])})
    whole = archive.read_bytes()
    archive.write_bytes(whole[:int(len(whole) * keep)])
    with pytest.raises(UserError) as err:
        list(translate.parallel_samples(str(tmp_path), ["http://x/c.tgz", ("x.en", "x.de")]))
    assert f"{archive} is truncated or corrupt" in str(err.value)
    assert "Delete it" in str(err.value)


def test_truncated_gz_file_and_missing_member(tmp_path):
    with gzip.open(tmp_path / "a.en.gz", "wb") as f:
        f.write(lines([e for e, _ in pairs(300, 2)]))
    (tmp_path / "a.en.gz").write_bytes((tmp_path / "a.en.gz").read_bytes()[:-200])
    (tmp_path / "a.de").write_bytes(lines([d for _, d in pairs(300, 2)]))
    with pytest.raises(UserError, match="a.en.gz is truncated or corrupt"):
        list(translate.parallel_samples(str(tmp_path), ["http://x/", ("a.en.gz", "a.de")]))
    write_tgz(tmp_path / "c.tgz", {"x.en": b"a\n"})
    with pytest.raises(UserError, match=r"c.tgz has no file 'x.de'.*\['x.en'\]"):
        list(translate.parallel_samples(str(tmp_path), ["http://x/c.tgz", ("x.en", "x.de")]))


# -- downloads ---------------------------------------------------------------------------

PAYLOAD = bytes(random.Random(0).randrange(256) for _ in range(50_000))


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves `payload` (PAYLOAD) at any path, honouring 'Range: bytes=N-' unless
    `ignore_range`, and If-Range against its `etag` (sent when set); with `cut_after` it
    sends that many bytes of the body and drops the connection."""

    ignore_range = False
    cut_after = None
    payload = PAYLOAD
    etag = None
    ranges = []

    def do_GET(self):
        start, payload = 0, self.payload
        requested = self.headers.get("Range")
        type(self).ranges.append(requested)
        if_range = self.headers.get("If-Range")
        if requested and if_range is not None and if_range != self.etag:
            requested = None   # changed since: the whole file
        if requested and not self.ignore_range:
            start = int(requested.split("=")[1].rstrip("-"))
            if start >= len(payload):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(payload)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        else:
            self.send_response(200)
        body = payload[start:]
        if self.etag:
            self.send_header("ETag", self.etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:self.cut_after] if self.cut_after else body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """(base URL, handler class) of a loopback HTTP server; settings reset per test."""
    handler = type("Handler", (RangeHandler,), {"ranges": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler
    httpd.shutdown()
    httpd.server_close()


def test_download_logs_progress_and_renames_when_complete(tmp_path, server, monkeypatch):
    base, handler = server
    logged = []
    monkeypatch.setattr(download.logging, "info", lambda msg, *a: logged.append(msg % a))
    path = generator_utils.maybe_download(str(tmp_path), "c.tgz", base + "c.tgz",
                                          every_seconds=0, chunk_size=10_000)
    assert Path(path).read_bytes() == PAYLOAD and helpers.temp_files(tmp_path) == []
    assert any("MB/s, ETA" in m and "(100%)" in m for m in logged)
    assert any(m.startswith("Downloaded c.tgz") for m in logged)


def test_interrupted_download_resumes_with_a_range_request(tmp_path, server):
    base, handler = server
    handler.cut_after = 20_000
    with pytest.raises(generator_utils.DownloadError) as err:
        generator_utils.maybe_download(str(tmp_path), "c.tgz", base + "c.tgz")
    partial = tmp_path / "c.tgz.incomplete"
    assert not (tmp_path / "c.tgz").exists() and partial.read_bytes() == PAYLOAD[:20_000]
    assert "run again to resume" in str(err.value)
    handler.cut_after = None
    generator_utils.maybe_download(str(tmp_path), "c.tgz", base + "c.tgz")
    assert (tmp_path / "c.tgz").read_bytes() == PAYLOAD and not partial.exists()
    assert handler.ranges == [None, "bytes=20000-"]


def test_resume_starts_over_when_the_server_ignores_range(tmp_path, server):
    base, handler = server
    handler.ignore_range = True
    (tmp_path / "c.tgz.incomplete").write_bytes(b"stale bytes")
    generator_utils.maybe_download(str(tmp_path), "c.tgz", base + "c.tgz")
    assert (tmp_path / "c.tgz").read_bytes() == PAYLOAD
    assert handler.ranges == ["bytes=11-"]


def test_a_file_that_changed_on_the_server_between_attempts_is_downloaded_whole(tmp_path,
                                                                                server):
    base, handler = server
    handler.cut_after, handler.etag = 20_000, '"v1"'
    with pytest.raises(generator_utils.DownloadError):
        generator_utils.maybe_download(str(tmp_path), "c.tgz", base + "c.tgz")
    handler.cut_after, handler.etag = None, '"v2"'
    handler.payload = PAYLOAD[::-1]
    generator_utils.maybe_download(str(tmp_path), "c.tgz", base + "c.tgz")
    assert (tmp_path / "c.tgz").read_bytes() == PAYLOAD[::-1]   # not v1's start + v2's rest
    assert helpers.temp_files(tmp_path) == []


def _checksum(data):
    return len(data), hashlib.sha256(data).hexdigest()


def test_a_file_that_fails_its_checksum_is_downloaded_again_once(tmp_path, server):
    """A truncated file left at the final name is replaced; a server that keeps sending
    other bytes is one message, and nothing is left at the final name."""
    base, handler = server
    (tmp_path / "c.tgz").write_bytes(PAYLOAD[:1000])
    path = generator_utils.maybe_download(str(tmp_path), "c.tgz", base + "c.tgz",
                                          checksum=_checksum(PAYLOAD))
    assert Path(path).read_bytes() == PAYLOAD and handler.ranges == [None]
    generator_utils.maybe_download(str(tmp_path), "c.tgz", base + "c.tgz",
                                   checksum=_checksum(PAYLOAD))      # checked, kept
    assert handler.ranges == [None]
    handler.payload = PAYLOAD[:-1] + b"x"
    with pytest.raises(UserError, match=r"c.tgz: the file received has sha256 [0-9a-f]{64}, "
                                        r"not the [0-9a-f]{64} expected, twice"):
        generator_utils.maybe_download(str(tmp_path / "again"), "c.tgz", base + "c.tgz",
                                       checksum=_checksum(PAYLOAD))
    assert handler.ranges == [None, None, None]
    assert not (tmp_path / "again" / "c.tgz").exists()
    assert helpers.temp_files(tmp_path) == []


def test_the_wmt_archives_have_known_checksums():
    """Read from tensorflow-datasets' URL checksum registry, http or https alike."""
    size, sha256 = download.known_checksum(translate_ende.ENDE_TRAIN_DATASETS[0][0])
    assert size == 113_157_482 and len(sha256) == 64
    assert download.known_checksum(translate_ende.ENDE_TRAIN_DATASETS[0][0].replace(
        "http:", "https:")) == (size, sha256)
    assert download.known_checksum("https://example.com/nothing.tgz") is None


def test_complete_partial_file_is_renamed(tmp_path, server):
    base, handler = server
    (tmp_path / "c.tgz.incomplete").write_bytes(PAYLOAD)      # stopped before the rename
    generator_utils.maybe_download(str(tmp_path), "c.tgz", base + "c.tgz")
    assert (tmp_path / "c.tgz").read_bytes() == PAYLOAD


def test_file_url_download_and_skip_when_present(tmp_path, monkeypatch):
    source = tmp_path / "src.bin"
    source.write_bytes(PAYLOAD)
    target = tmp_path / "dl"
    generator_utils.maybe_download(str(target), "x.bin", source.as_uri())
    assert (target / "x.bin").read_bytes() == PAYLOAD

    def fail(*args, **kwargs):
        raise AssertionError("downloaded a file that was already there")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    assert generator_utils.maybe_download(str(target), "x.bin", "http://nowhere/x.bin") == \
        str(target / "x.bin")


def test_http_error_is_a_user_error(tmp_path, monkeypatch):
    def not_found(request, *args, **kwargs):
        raise urllib.error.HTTPError(request.full_url, 404, "Not Found", {}, None)

    monkeypatch.setattr(urllib.request, "urlopen", not_found)
    with pytest.raises(UserError, match=r"could not download http://x/y.tgz .*HTTP 404"):
        generator_utils.maybe_download(str(tmp_path), "y.tgz", "http://x/y.tgz")
