"""Downloads that resume, check what they received, and never leave a file that looks
finished but is not.

`maybe_download` writes to `<file>.incomplete` and renames it only once complete. An
interrupted download resumes with an HTTP Range request; If-Range names the ETag (or
Last-Modified) the first attempt saw, so a file that changed on the server in between is
sent whole instead of being spliced. A file's size and sha256, when known (given, or in
tensorflow-datasets' URL checksum registry, which records the WMT archives), are checked
after the download and for a file already at the final name: a mismatch deletes it and
downloads again once, then stops with one message.
"""
import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request

from absl import logging

from t2tlike import files
from t2tlike.errors import UserError

TEMP_SUFFIX = ".incomplete"


class DownloadError(UserError):
    """A download that could not finish; `path`, `url` and `reason` say which and why."""

    def __init__(self, url, path, reason):
        self.url, self.path, self.reason = url, path, reason
        partial = path + TEMP_SUFFIX
        kept = ""
        if os.path.exists(partial):
            kept = (f" The {os.path.getsize(partial) / 1e6:.1f} MB received are kept in "
                    f"{partial}; run again to resume.")
        super().__init__(f"could not download {url} to {path}: {reason}.{kept} Or place the "
                         f"file there yourself (same name) and run again.")


def maybe_download(directory, filename, url, every_seconds=5.0, timeout=60,
                   chunk_size=1 << 20, checksum=None):
    """Downloads `url` to directory/filename unless that file is there; returns its path.

    Bytes go to `filename.incomplete`, which is renamed only once complete. A later call
    asks for the rest of an interrupted download (HTTP Range, with If-Range naming the
    ETag or Last-Modified of the first attempt, so a file that changed on the server in
    between is sent whole) and starts over when the server ignores that. Logs bytes, MB/s
    and ETA every `every_seconds`.

    `checksum`: (size in bytes, sha256 hex) of the file; default: the one recorded for
    `url` in tensorflow-datasets' URL checksum registry (`known_checksum`), if any. With
    one, a file already at the final name is checked too; one that does not match (a
    truncated file, another version) is deleted and downloaded again, once. Raises
    DownloadError (a UserError) when it cannot finish, keeping what was received.
    """
    path = os.path.join(directory, filename)
    expected = checksum or known_checksum(url)
    if os.path.exists(path):
        wrong = _mismatch(path, expected)
        if wrong is None:
            logging.info("Not downloading %s: %s is already there%s.", url, path,
                         " (size and sha256 checked)" if expected else "")
            return path
        logging.warning("%s %s; downloading it again.", path, wrong)
        os.remove(path)
    os.makedirs(directory or ".", exist_ok=True)
    partial = path + TEMP_SUFFIX
    for attempt in (1, 2):
        progress = _fetch(url, path, every_seconds, timeout, chunk_size)
        wrong = _mismatch(partial, expected)
        if wrong is None:
            os.replace(partial, path)
            _forget_validator(path)
            progress.done()
            return path
        os.remove(partial)
        _forget_validator(path)
        if attempt == 1:
            logging.warning("The download of %s %s; downloading it again.", url, wrong)
    raise DownloadError(url, path, f"the file received {wrong}, twice. The file on the "
                                   "server may have changed; download it yourself and check it")


def known_checksum(url):
    """(size, sha256) recorded for `url` (http or https alike) in tensorflow-datasets' URL
    checksum registry (its `url_checksums/*.txt` and datasets' `checksums.tsv`), or None."""
    global _CHECKSUMS
    if _CHECKSUMS is None:
        _CHECKSUMS = _load_checksums()
    return _CHECKSUMS.get(_without_scheme(url))


_CHECKSUMS = None


def _without_scheme(url):
    return re.sub(r"^https?:", "", url.strip())


def _load_checksums():
    import importlib.util
    spec = importlib.util.find_spec("tensorflow_datasets")
    if spec is None or not spec.submodule_search_locations:
        return {}
    table = {}
    for root, _, files in os.walk(list(spec.submodule_search_locations)[0]):
        for name in files:
            if not (name == "checksums.tsv" or
                    (os.path.basename(root) == "url_checksums" and name.endswith(".txt"))):
                continue
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.split()
                    if (len(parts) >= 3 and parts[1].isdigit()
                            and re.fullmatch(r"[0-9a-f]{64}", parts[2])):
                        table[_without_scheme(parts[0])] = (int(parts[1]), parts[2])
    return table


def _mismatch(path, expected):
    """How the file at `path` differs from `expected` (size, sha256), or None."""
    if not expected:
        return None
    size, sha256 = expected
    actual = os.path.getsize(path)
    if actual != size:
        return f"has {actual:,} bytes, not the {size:,} expected"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    if digest.hexdigest() != sha256:
        return f"has sha256 {digest.hexdigest()}, not the {sha256} expected"
    return None


def _validator_path(path):
    return path + ".validator" + TEMP_SUFFIX


def _forget_validator(path):
    if os.path.exists(_validator_path(path)):
        os.remove(_validator_path(path))


def _fetch(url, path, every_seconds, timeout, chunk_size):
    """Completes `path`.incomplete from `url` (resuming it when the server allows); returns
    the progress logger."""
    partial = path + TEMP_SUFFIX
    start = os.path.getsize(partial) if os.path.exists(partial) else 0
    headers = {"User-Agent": "t2tlike-datagen"}
    if start:
        headers["Range"] = f"bytes={start}-"
        try:
            with open(_validator_path(path), encoding="utf-8") as f:
                headers["If-Range"] = f.read().strip()   # changed since: the whole file
        except OSError:
            pass
        logging.info("Resuming the download of %s at %.1f MB.", url, start / 1e6)
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:   # nothing past `start`: complete already, or stale
            if _range_total(e.headers.get("Content-Range")) != start:
                os.remove(partial)
                return _fetch(url, path, every_seconds, timeout, chunk_size)
            return _DownloadProgress(os.path.basename(path), start, start, every_seconds)
        raise DownloadError(url, path, f"HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        raise DownloadError(url, path, f"{type(e).__name__}: {getattr(e, 'reason', e)}") from e
    with response:
        if start and getattr(response, "status", None) != 206:
            start = 0                 # the server (or file://) sent everything again
        validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        if validator and not start:
            files.atomic_write(_validator_path(path), validator + "\n")
        length = response.headers.get("Content-Length")
        total = (_range_total(response.headers.get("Content-Range"))
                 or (start + int(length) if length and length.isdigit() else None))
        progress = _DownloadProgress(os.path.basename(path), start, total, every_seconds)
        try:
            with open(partial, "ab" if start else "wb") as f:
                while chunk := response.read(chunk_size):
                    f.write(chunk)
                    progress.update(len(chunk))
        except (OSError, http.client.HTTPException) as e:
            raise DownloadError(url, path, f"interrupted ({type(e).__name__}: {e})") from e
    size = os.path.getsize(partial)
    if total is not None and size != total:
        raise DownloadError(url, path, f"the connection closed after {size} of {total} bytes")
    return progress


def _range_total(content_range):
    """The total size in a Content-Range header ('bytes 10-99/100' or 'bytes */100')."""
    match = re.search(r"/(\d+)\s*$", content_range or "")
    return int(match.group(1)) if match else None


class _DownloadProgress:
    """Logs 'name: 12.0/80.0 MB (15%), 3.1 MB/s, ETA 22s' at most every `every` seconds."""

    def __init__(self, name, start, total, every):
        self.name, self.size, self.total, self.every = name, start, total, every
        self.first, self.begin = start, time.time()
        self.last = self.begin

    def update(self, n):
        self.size += n
        now = time.time()
        if now - self.last >= self.every:
            self.last = now
            rate = (self.size - self.first) / max(now - self.begin, 1e-9)
            if self.total:
                eta = (self.total - self.size) / max(rate, 1e-9)
                logging.info("Downloading %s: %.1f/%.1f MB (%.0f%%), %.2f MB/s, ETA %.0fs",
                             self.name, self.size / 1e6, self.total / 1e6,
                             100 * self.size / self.total, rate / 1e6, eta)
            else:
                logging.info("Downloading %s: %.1f MB, %.2f MB/s", self.name, self.size / 1e6,
                             rate / 1e6)

    def done(self):
        elapsed = max(time.time() - self.begin, 1e-9)
        logging.info("Downloaded %s: %.1f MB in %.0fs (%.2f MB/s)", self.name, self.size / 1e6,
                     elapsed, (self.size - self.first) / elapsed / 1e6)
