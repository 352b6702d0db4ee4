"""Translation problems: parallel corpora read line by line from archives, .gz or plain files.

A `TranslateProblem` lists its corpora per split with `source_data_files(split)`, in
T2T's form `[[url, (source_member, target_member)], ...]`:

* `url` names an archive (.tgz, .tar.gz, .tar): it is downloaded into tmp_dir under its
  own name and the members are paths inside it, streamed without extracting. Members
  already extracted under tmp_dir (`tmp_dir/source_member`) are read instead, as in T2T.
* `url` ends in "/": a folder; each member is a file of its own (plain or .gz), fetched
  from `url + member` into `tmp_dir/member`.

Every file a problem needs is fetched before anything is generated, so an offline machine
gets one error listing every missing file and its URL. Reading follows these policies:

* Lines are stripped of surrounding whitespace; a pair with an empty side is skipped
  (counted and logged once per corpus).
* Members ending in .sgm (WMT test sets) keep only the text inside `<seg ...>` tags;
  entities are left as they are (as T2T and sacreBLEU do).
* Bytes that are not UTF-8 raise a UserError naming the file and line number
  (`invalid_utf8 = "error"`); a problem may set "skip" (drop the pair, counted) or
  "replace" (U+FFFD).
* Parallel files with different numbers of lines (segments, for .sgm) raise a UserError
  naming both files and both counts; so does a truncated or corrupt archive, which says
  to delete it and download it again. Datagen writes shards atomically, so such an error
  leaves no half-written shard behind.
"""
import gzip
import itertools
import os
import re
import tarfile
import zlib

from absl import logging

from data_generators import generator_utils, text_problems
from data_generators.problem import DatasetSplit
from t2tlike.errors import UserError

ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".tar.bz2", ".tar.xz")
_SEG = re.compile(r"<seg[^>]*>(.*)</seg>", re.IGNORECASE)
_END = object()   # marks the end of the shorter file in a parallel read


class TranslateProblem(text_problems.Text2TextProblem):
    """Base class: subclasses define `source_data_files` (and vocab size, shards, ...).

    Source and target share one SentencePiece vocabulary, built from up to
    `max_samples_for_vocab` training pairs taken evenly from every training corpus.
    """

    invalid_utf8 = "error"   # or "skip" (drop the pair) or "replace" (U+FFFD)

    def source_data_files(self, dataset_split):
        """[[url, (source_member, target_member)], ...] for one split; [] for none."""
        raise NotImplementedError(f"{type(self).__name__} must define source_data_files")

    def vocab_data_files(self):
        """The corpora the vocabulary is built from (T2T's name): the training ones."""
        return self.source_data_files(DatasetSplit.TRAIN)

    @property
    def dataset_splits(self):
        """Train (10 shards) and dev, and test when `source_data_files` has one."""
        splits = [{"split": DatasetSplit.TRAIN, "shards": 10},
                  {"split": DatasetSplit.EVAL, "shards": 1}]
        if self.source_data_files(DatasetSplit.TEST):
            splits.append({"split": DatasetSplit.TEST, "shards": 1})
        return splits

    def eval_metrics(self):
        return super().eval_metrics() + ["bleu"]

    # -- data generation -------------------------------------------------------------
    def generate_data(self, data_dir, tmp_dir, task_id=-1):
        self.fetch_source_files(tmp_dir)   # every split's files first: one complete error
        super().generate_data(data_dir, tmp_dir, task_id)

    def fetch_source_files(self, tmp_dir, splits=None):
        """Downloads what `splits` (default: every split generated) need into tmp_dir.

        Files already there are not downloaded again. Raises one UserError listing every
        file that could not be fetched, where to put it and the URL it comes from.
        """
        splits = splits or [s["split"] for s in self.dataset_splits]
        self.fetch_datasets(tmp_dir, [d for split in splits for d in self.source_data_files(split)])

    def fetch_datasets(self, tmp_dir, datasets):
        """fetch_source_files for a list of datasets [[url, (source, target)], ...]."""
        wanted = {}
        for dataset in datasets:
            for filename, url in _files_to_fetch(tmp_dir, dataset):
                wanted.setdefault(filename, url)
        failed = []
        for filename, url in wanted.items():
            try:
                generator_utils.maybe_download(tmp_dir, filename, url)
            except generator_utils.DownloadError as e:
                partial = e.path + generator_utils.TEMP_SUFFIX
                kept = " (partial download kept; run again to resume)" \
                    if os.path.exists(partial) else ""
                failed.append(f"  {e.path}\n      from {url}  [{e.reason}]{kept}")
        if failed:
            raise UserError(
                f"problem {self.name}: could not download {len(failed)} source file(s). Put "
                f"them in --tmp_dir={tmp_dir} under these names (as downloaded) and run "
                "t2t-datagen again:\n" + "\n".join(failed))

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        """Yields {"inputs": source line, "targets": target line} for one split."""
        datasets = self.source_data_files(dataset_split)
        if not datasets:
            raise UserError(f"problem {self.name} has no {dataset_split!r} split; it has "
                            f"{[s['split'] for s in self.dataset_splits]}.")
        self.fetch_source_files(tmp_dir, [dataset_split])
        for dataset in datasets:
            yield from parallel_samples(tmp_dir, dataset, self.invalid_utf8)

    def generate_text_for_vocab(self, data_dir, tmp_dir):
        """Lines for the vocabulary: up to max_samples_for_vocab pairs, an equal share from
        each training corpus (so the first corpus does not crowd out the others).

        Returns a list, read before SentencePiece starts, so that a bad source file ends
        in its own clear error rather than inside the trainer (the sample is bounded).
        """
        datasets = self.vocab_data_files()
        self.fetch_datasets(tmp_dir, datasets)
        share = -(-self.max_samples_for_vocab // max(len(datasets), 1))
        lines = []
        for dataset in datasets:
            samples = parallel_samples(tmp_dir, dataset, self.invalid_utf8, log_skipped=False)
            for sample in itertools.islice(samples, share):
                lines += [sample["inputs"], sample["targets"]]
            samples.close()
        return lines


# -- where each corpus file lives --------------------------------------------------------

def is_archive(url):
    return url.lower().endswith(ARCHIVE_SUFFIXES)


def _files_to_fetch(tmp_dir, dataset):
    """(filename in tmp_dir, url) pairs one dataset needs that are not there yet."""
    url, members = dataset
    if not (url.endswith("/") or is_archive(url)):
        raise UserError(f"dataset URL {url!r}: expected an archive "
                        f"({', '.join(ARCHIVE_SUFFIXES)}) or a folder URL ending in '/' whose "
                        "files are the members.")
    if url.endswith("/"):
        return [(m, url + m) for m in members
                if not os.path.exists(os.path.join(tmp_dir, m))
                and not os.path.exists(os.path.join(tmp_dir, _strip_gz(m)))]
    if all(os.path.isfile(os.path.join(tmp_dir, m)) for m in members):
        return []                         # extracted already
    filename = os.path.basename(url)
    return [] if os.path.exists(os.path.join(tmp_dir, filename)) else [(filename, url)]


def _source(tmp_dir, url, member):
    """(archive path or None, file path or member name): where to read `member`."""
    if url.endswith("/"):
        path = os.path.join(tmp_dir, member)
        if not os.path.exists(path) and os.path.exists(os.path.join(tmp_dir, _strip_gz(member))):
            path = os.path.join(tmp_dir, _strip_gz(member))   # gunzipped by the user
        return None, path
    extracted = os.path.join(tmp_dir, member)
    if os.path.isfile(extracted) or not is_archive(url):
        return None, extracted
    return os.path.join(tmp_dir, os.path.basename(url)), member


def _strip_gz(name):
    return name[:-3] if name.endswith(".gz") else name


def describe(tmp_dir, url, member):
    """How errors name a corpus file: 'archive.tgz:member' or the file's path."""
    archive, name = _source(tmp_dir, url, member)
    return f"{archive}:{name}" if archive else name


# -- reading -----------------------------------------------------------------------------

def parallel_samples(tmp_dir, dataset, invalid_utf8="error", log_skipped=True):
    """Yields {"inputs", "targets"} from one dataset [url, (source, target)], streamed.

    Raises UserError on different line counts, bytes that are not UTF-8 (under the
    "error" policy) and truncated or corrupt archives.
    """
    url, (src_member, tgt_member) = dataset
    names = [describe(tmp_dir, url, m) for m in (src_member, tgt_member)]
    sgm = src_member.endswith(".sgm") and tgt_member.endswith(".sgm")
    streams = [_text_lines(tmp_dir, url, m, sgm, invalid_utf8)
               for m in (src_member, tgt_member)]
    counts, empty, undecodable = [0, 0], 0, 0
    try:
        for src, tgt in itertools.zip_longest(*streams, fillvalue=_END):
            counts[0] += src is not _END
            counts[1] += tgt is not _END
            if src is _END or tgt is _END:
                continue                    # keep counting the longer file, yield nothing
            if src is None or tgt is None:
                undecodable += 1
            elif not src or not tgt:
                empty += 1
            else:
                yield {"inputs": src, "targets": tgt}
    finally:
        for stream in streams:
            stream.close()
    if counts[0] != counts[1]:
        unit = "segments" if sgm else "lines"
        raise UserError(
            f"parallel files differ in length: {names[0]} has {counts[0]} {unit} but "
            f"{names[1]} has {counts[1]}. Line i of one must translate line i of the other; "
            "fix or replace the files (a re-download if they came from an archive).")
    if log_skipped and (empty or undecodable):
        logging.info("%s / %s: skipped %d of %d pairs (%d with an empty side, %d not UTF-8).",
                     names[0], names[1], empty + undecodable, counts[0], empty, undecodable)


def _text_lines(tmp_dir, url, member, sgm, invalid_utf8):
    """Stripped text lines of one member (None for an undecodable line under "skip")."""
    archive, path = _source(tmp_dir, url, member)
    name = describe(tmp_dir, url, member)
    raw = _archive_lines(archive, path) if archive else _file_lines(path)
    for number, line in enumerate(raw, start=1):
        try:
            text, bad = line.decode("utf-8"), False
        except UnicodeDecodeError as e:
            if invalid_utf8 == "error":
                raise UserError(
                    f"{name}, line {number}: bytes that are not UTF-8 ({e.reason} at byte "
                    f"{e.start}: {line[max(e.start - 20, 0):e.start + 5]!r}). Convert the file "
                    "to UTF-8, or set invalid_utf8 = 'skip' or 'replace' on the problem."
                    ) from None
            text, bad = line.decode("utf-8", errors="replace"), invalid_utf8 == "skip"
        if sgm:
            match = _SEG.search(text)
            if not match:
                continue                    # <doc>, <p>, <srcset> ... lines
            text = match.group(1)
        yield None if bad else text.strip()


_CORRUPT = (EOFError, tarfile.TarError, zlib.error, gzip.BadGzipFile)


def _file_lines(path):
    """Byte lines of a plain or .gz file."""
    if not os.path.exists(path):
        raise UserError(f"corpus file {path} does not exist; put it there or run t2t-datagen "
                        "to download it.")
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            yield from f
    except _CORRUPT as e:
        raise UserError(_corrupt_message(path, e)) from None


def _archive_lines(archive, member):
    """Byte lines of one member of a tar archive, streamed (nothing is extracted)."""
    if not os.path.exists(archive):
        raise UserError(f"archive {archive} does not exist; put it there or run t2t-datagen "
                        "to download it.")
    wanted = _normalize(member)
    seen = []
    try:
        with tarfile.open(archive, "r|*") as tar:
            for info in tar:
                name = _normalize(info.name)
                if name == wanted:
                    f = tar.extractfile(info)
                    if f is None:
                        break
                    if member.endswith(".gz"):
                        f = gzip.GzipFile(fileobj=f)
                    yield from f
                    return
                if len(seen) < 8:
                    seen.append(name)
    except _CORRUPT as e:
        raise UserError(_corrupt_message(archive, e)) from None
    raise UserError(f"archive {archive} has no file {member!r} (it starts with {seen}). If the "
                    "archive is truncated or not the expected one, delete it and run "
                    "t2t-datagen again to download it afresh.")


def _normalize(name):
    return name[2:] if name.startswith("./") else name


def _corrupt_message(path, error):
    return (f"{path} is truncated or corrupt ({type(error).__name__}: {error}). Delete it and "
            "run t2t-datagen again to download it afresh (or put a complete copy there).")
