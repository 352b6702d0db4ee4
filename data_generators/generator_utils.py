"""Writing samples to sharded TFRecord files, as T2T names them.

Files are `{problem}-{split}-{shard:05d}-of-{num_shards:05d}`. Each is written (and
shuffled) under a temporary name and renamed only once every shard is complete; then a
completion marker, `.{problem}-{split}.complete` (hidden, so no reader's file pattern
matches it), lists the files and their record counts. Datagen skips a group of shards
only when its marker is there, so a run killed at any point (while writing, shuffling or
renaming) is generated again on the next run, to the same records as a clean run.
Downloads: data_generators/download.py (`maybe_download` and `DownloadError` are also
here, under T2T's names).
"""
import json
import numbers
import os
import re
import time

import numpy as np

from absl import logging

from data_generators.download import (  # noqa: F401 (T2T's names for them)
    TEMP_SUFFIX, DownloadError, maybe_download)
from t2tlike import files
from t2tlike.errors import UserError, first_line


SHUFFLED_SUFFIX = ".shuffled" + TEMP_SUFFIX   # `<shard>.incomplete` + this, while shuffling


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


def marker_path(output_filenames):
    """The completion marker of a group of shards: `.{name}.complete` beside the first,
    `name` being its file name without the `-NNNNN-of-NNNNN` shard suffix."""
    first = output_filenames[0]
    name = re.sub(r"-\d{5}-of-\d{5}$", "", os.path.basename(first))
    return os.path.join(os.path.dirname(first), f".{name}.complete")


def is_complete(output_filenames):
    """True when the group's marker lists exactly these files and all of them exist."""
    try:
        with open(marker_path(output_filenames), encoding="utf-8") as f:
            listed = json.load(f).get("files")
    except (OSError, ValueError, AttributeError):
        return False
    return (listed == [os.path.basename(f) for f in output_filenames]
            and all(os.path.exists(f) for f in output_filenames))


def generate_files(generator, output_filenames, max_cases=None, total=None, shuffle=False,
                   seed=0):
    """Writes the dicts from `generator` round-robin into `output_filenames`, atomically,
    shuffling each file's records (`shuffle_dataset`'s order) before the files are renamed
    into place and the completion marker is written.

    Returns the number of examples written. A group whose marker is there is skipped (T2T's
    behaviour: datagen skips splits already generated); any other state, such as shards
    left by a killed run, is generated again.
    """
    import tensorflow as tf
    if is_complete(output_filenames):
        logging.info("Skipping generation of %s...: files already exist.", output_filenames[0])
        return 0
    if any(os.path.exists(f) for f in output_filenames):
        logging.info("Generating %s... again: the files there have no completion marker (a "
                     "run stopped before it finished, or an older datagen).",
                     output_filenames[0])
    folder = os.path.dirname(output_filenames[0])
    if folder:
        os.makedirs(folder, exist_ok=True)
    marker = marker_path(output_filenames)
    if os.path.exists(marker):
        os.remove(marker)
    tmp_names = [f + TEMP_SUFFIX for f in output_filenames]
    writers = [tf.io.TFRecordWriter(f) for f in tmp_names]
    progress = Progress(f"writing {os.path.basename(output_filenames[0]).rsplit('-', 3)[0]}",
                        total=max_cases or total)
    count = 0

    def remove_temporaries():
        for w in writers:
            try:
                w.close()
            except (OSError, tf.errors.OpError):
                pass
        for f in tmp_names + [f + SHUFFLED_SUFFIX for f in tmp_names]:
            if os.path.exists(f):
                os.remove(f)

    try:
        for case in generator:
            if max_cases and count >= max_cases:
                break
            writers[count % len(writers)].write(to_example(case).SerializeToString())
            count += 1
            progress.update()
        for w in writers:
            w.close()
        if count and shuffle:
            for tmp, final in zip(tmp_names, output_filenames):
                _shuffle_file(tmp, os.path.basename(final), seed)
    except (OSError, tf.errors.OpError) as e:   # a full disk, a failing file system
        remove_temporaries()
        raise UserError(f"could not write {os.path.basename(output_filenames[0])}... in "
                        f"{folder or '.'}: {first_line(e)}. Nothing of them was kept; free some space "
                        "(or fix the folder) and run t2t-datagen again.") from None
    except (Exception, KeyboardInterrupt):   # a source that fails, Ctrl-C: nothing kept
        remove_temporaries()
        raise
    if count == 0:
        remove_temporaries()
        raise UserError(f"the generator for {output_filenames[0]} produced no examples; "
                        "check the problem's source files.")
    counts = [count // len(writers) + (i < count % len(writers)) for i in range(len(writers))]
    for tmp, final in zip(tmp_names, output_filenames):
        os.replace(tmp, final)
    files.atomic_write(marker, json.dumps({
        "files": [os.path.basename(f) for f in output_filenames], "records": counts,
        "shuffled": bool(shuffle)}, indent=1) + "\n")
    progress.log()
    return count


def _shuffle_file(path, name, seed):
    """Shuffles the records of file `path` in memory, in the order that `name` (the final
    file name) and `seed` give, atomically."""
    import random

    import tensorflow as tf
    records = [r for batch in tf.data.TFRecordDataset(path).batch(8192).as_numpy_iterator()
               for r in batch]             # batched: one eager call per 8k records
    random.Random(f"{seed}/{name}").shuffle(records)
    tmp = path + SHUFFLED_SUFFIX
    with tf.io.TFRecordWriter(tmp) as writer:
        for r in records:
            writer.write(r)
    os.replace(tmp, path)


def shuffle_dataset(filenames, seed=0):
    """Shuffles the records of each file in memory (T2T's post-generation shuffle), atomically
    (datagen shuffles before the rename: `generate_files(..., shuffle=True)`)."""
    for fname in filenames:
        _shuffle_file(fname, os.path.basename(fname), seed)


def generate_dataset_and_shuffle(train_gen, train_paths, dev_gen, dev_paths, shuffle=True):
    for gen, paths in ((train_gen, train_paths), (dev_gen, dev_paths)):
        generate_files(gen, paths, shuffle=shuffle)
