"""Writing samples to sharded TFRecord files, as T2T names them.

Files are `{problem}-{split}-{shard:05d}-of-{num_shards:05d}`. Each is written under a
temporary name and renamed only once every shard is complete, so an interrupted datagen
never leaves files that look finished. Downloads (`maybe_download`) follow the same rule
and resume where an interrupted one stopped.
"""
import http.client
import numbers
import os
import re
import time
import urllib.error
import urllib.request

import numpy as np

from absl import logging

from t2tlike.errors import UserError

TEMP_SUFFIX = ".incomplete"


def sharded_name(base_name, shard, num_shards):
    return f"{base_name}-{shard:05d}-of-{num_shards:05d}"


def shard_filepaths(data_dir, problem_name, split, num_shards):
    base = os.path.join(data_dir, f"{problem_name}-{split}")
    return [sharded_name(base, i, num_shards) for i in range(num_shards)]


def train_data_filenames(problem, output_dir, num_shards):
    return shard_filepaths(output_dir, problem, "train", num_shards)


def dev_data_filenames(problem, output_dir, num_shards):
    return shard_filepaths(output_dir, problem, "dev", num_shards)


def test_data_filenames(problem, output_dir, num_shards):
    return shard_filepaths(output_dir, problem, "test", num_shards)


def to_example(dictionary):
    """A dict of feature name -> int / float / str / bytes, or a list of one kind, as an Example."""
    import tensorflow as tf
    features = {}
    for name, value in dictionary.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if not values:
            features[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[]))
        elif isinstance(values[0], (numbers.Integral, np.integer)):   # bools too
            features[name] = tf.train.Feature(
                int64_list=tf.train.Int64List(value=[int(v) for v in values]))
        elif isinstance(values[0], (numbers.Real, np.floating)):
            features[name] = tf.train.Feature(
                float_list=tf.train.FloatList(value=[float(v) for v in values]))
        elif isinstance(values[0], (str, bytes)):
            values = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
            features[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        else:
            raise ValueError(f"feature {name!r}: unsupported value type {type(values[0]).__name__}")
    return tf.train.Example(features=tf.train.Features(feature=features))


class Progress:
    """Logs 'label: N done, X/s' at most every `every_seconds`."""

    def __init__(self, label, every_seconds=10.0, total=None):
        self.label, self.every, self.total = label, every_seconds, total
        self.count, self.start = 0, time.time()
        self.last = self.start

    def update(self, n=1):
        self.count += n
        now = time.time()
        if now - self.last >= self.every:
            self.last = now
            self.log()

    def log(self):
        elapsed = max(time.time() - self.start, 1e-9)
        rate = self.count / elapsed
        eta = ""
        if self.total:
            eta = f", ETA {max(self.total - self.count, 0) / max(rate, 1e-9):.0f}s"
            logging.info("%s: %d/%d (%.0f/s%s)", self.label, self.count, self.total, rate, eta)
        else:
            logging.info("%s: %d (%.0f/s)", self.label, self.count, rate)


def generate_files(generator, output_filenames, max_cases=None, total=None):
    """Writes the dicts from `generator` round-robin into `output_filenames`, atomically.

    Returns the number of examples written. Existing complete files are left untouched
    (T2T's behaviour: datagen skips splits already generated).
    """
    import tensorflow as tf
    if all(os.path.exists(f) for f in output_filenames):
        logging.info("Skipping generation of %s...: files already exist.", output_filenames[0])
        return 0
    folder = os.path.dirname(output_filenames[0])
    if folder:
        os.makedirs(folder, exist_ok=True)
    tmp_names = [f + TEMP_SUFFIX for f in output_filenames]
    writers = [tf.io.TFRecordWriter(f) for f in tmp_names]
    progress = Progress(f"writing {os.path.basename(output_filenames[0]).rsplit('-', 3)[0]}",
                        total=max_cases or total)
    count = 0
    try:
        for case in generator:
            if max_cases and count >= max_cases:
                break
            writers[count % len(writers)].write(to_example(case).SerializeToString())
            count += 1
            progress.update()
    except BaseException:
        for w in writers:
            w.close()
        for f in tmp_names:
            if os.path.exists(f):
                os.remove(f)
        raise
    for w in writers:
        w.close()
    if count == 0:
        for f in tmp_names:
            os.remove(f)
        raise UserError(f"the generator for {output_filenames[0]} produced no examples; "
                        "check the problem's source files.")
    for tmp, final in zip(tmp_names, output_filenames):
        os.replace(tmp, final)
    progress.log()
    return count


def shuffle_dataset(filenames, seed=0):
    """Shuffles the records of each file in memory (T2T's post-generation shuffle), atomically."""
    import random

    import tensorflow as tf
    for fname in filenames:
        records = [r for batch in tf.data.TFRecordDataset(fname).batch(8192).as_numpy_iterator()
                   for r in batch]             # batched: one eager call per 8k records
        random.Random(f"{seed}/{os.path.basename(fname)}").shuffle(records)
        tmp = fname + TEMP_SUFFIX
        with tf.io.TFRecordWriter(tmp) as writer:
            for r in records:
                writer.write(r)
        os.replace(tmp, fname)


def generate_dataset_and_shuffle(train_gen, train_paths, dev_gen, dev_paths, shuffle=True):
    written = [paths for gen, paths in ((train_gen, train_paths), (dev_gen, dev_paths))
               if generate_files(gen, paths)]
    if shuffle:
        for paths in written:
            shuffle_dataset(paths)


# -- downloads ---------------------------------------------------------------------------

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
                   chunk_size=1 << 20):
    """Downloads `url` to directory/filename unless that file exists; returns its path.

    Bytes go to `filename.incomplete`, which is renamed only once complete. A later call
    asks for the rest of an interrupted download (HTTP Range) and starts over when the
    server ignores that. Logs bytes, MB/s and ETA every `every_seconds`. Raises
    DownloadError (a UserError) when it cannot finish, keeping what was received.
    """
    path = os.path.join(directory, filename)
    if os.path.exists(path):
        logging.info("Not downloading %s: %s is already there.", url, path)
        return path
    os.makedirs(directory or ".", exist_ok=True)
    partial = path + TEMP_SUFFIX
    start = os.path.getsize(partial) if os.path.exists(partial) else 0
    headers = {"User-Agent": "t2tlike-datagen"}
    if start:
        headers["Range"] = f"bytes={start}-"
        logging.info("Resuming the download of %s at %.1f MB.", url, start / 1e6)
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:   # nothing past `start`: complete already, or stale
            if _range_total(e.headers.get("Content-Range")) == start:
                os.replace(partial, path)
                return path
            os.remove(partial)
            return maybe_download(directory, filename, url, every_seconds, timeout, chunk_size)
        raise DownloadError(url, path, f"HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        raise DownloadError(url, path, f"{type(e).__name__}: {getattr(e, 'reason', e)}") from e
    with response:
        if start and getattr(response, "status", None) != 206:
            start = 0                 # the server (or file://) sent everything again
        length = response.headers.get("Content-Length")
        total = (_range_total(response.headers.get("Content-Range"))
                 or (start + int(length) if length and length.isdigit() else None))
        progress = _DownloadProgress(filename, start, total, every_seconds)
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
    os.replace(partial, path)
    progress.done()
    return path


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
