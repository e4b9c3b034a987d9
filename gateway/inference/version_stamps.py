"""A model version's stamp for hot reload: the stamps of the files in its version directory, as
Triton's repository poll takes them.

Stamping model.onnx alone missed a replaced ``model.onnx.data`` (ONNX keeps large weights beside
the graph): the old weights served until model.onnx itself was touched. Reading the graph for the
files it names instead parsed every version's whole model file on the poll thread under the model's
lock (twice the file's size in memory, load-on-demand versions included), let one malformed
external-data entry raise out of the model's refresh and stop its hot reload, and stat'ed absolute
and ``../`` locations outside the version directory, which ONNX Runtime refuses to read anyway. A
stamp of every regular file under the version directory parses nothing and touches nothing outside
it: a graph and the weights ONNX Runtime may read from it are all there.

The walk skips hidden names (an upload's or enrollment's staging, an editor's swap file), does not
descend into a symlinked directory (it may lead anywhere), and is bounded in depth and in files: a
directory past the bounds is stamped by what was seen within them. A symlinked file is stamped by
its target, as a symlinked model.onnx always was. The gateway writes nothing under a version
directory (its engine caches live in ``state_dir``), so its own files never look like a change.

Measured on the shipped models (face-detector and yolov8n-bench, 12 MB each, one x86 core): a poll
pass that changes nothing took 99 us stamping each model file and the data files its graph named,
and 115 us walking the version directories (median of 500); the walk's listing is the cost, and it
buys a first scan that reads no model file at all.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

Stamp = tuple[int, int, int]
"""(mtime_ns, size, inode) of a file: changes on every rewrite, including an atomic rename."""

FileStamp = tuple[str, int, int, int]
"""A file's path relative to its version directory, then its ``Stamp``."""

VersionStamp = tuple[FileStamp, ...]
"""The stamps of a version directory's files, in path order."""

MAX_DEPTH = 4
"""Directory levels below the version directory that are walked."""
MAX_FILES = 1024
"""Files stamped per version; a model ships a graph, its weights and perhaps a few more."""


def stamp_of(path: Path) -> Stamp | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size, found.st_ino)


def version_stamp(model_file: Path) -> VersionStamp | None:
    """The stamp of ``model_file``'s version directory; None while ``model_file`` is missing."""
    own = stamp_of(model_file)
    if own is None:
        return None
    found: list[FileStamp] = [(model_file.name, *own)]
    for relative, _, details in _walk(model_file.parent, "", 0, skip=model_file.name):
        found.append((relative, details.st_mtime_ns, details.st_size, details.st_ino))
    return tuple(sorted(found))


def version_files(model_file: Path) -> list[tuple[str, Path]]:
    """The files a version's stamp counts, each by its path relative to the version directory, in
    that order: ``model_file`` (read or not) and the regular files beside and below it."""
    found = [(model_file.name, model_file)]
    found.extend(
        (relative, path) for relative, path, _ in _walk(model_file.parent, "", 0, skip=model_file.name)
    )
    return sorted(found)


def _walk(
    directory: Path, prefix: str, depth: int, *, skip: str = ""
) -> list[tuple[str, Path, os.stat_result]]:
    """The regular files under ``directory`` within the bounds, by name; ``skip`` is left out."""
    found: list[tuple[str, Path, os.stat_result]] = []
    try:
        with os.scandir(directory) as entries:
            listed = sorted(entries, key=lambda entry: entry.name)
    except OSError:
        return found  # removed or unreadable since it was listed: the next pass sees it as it is then
    for entry in listed:
        if len(found) >= MAX_FILES:
            break
        if entry.name.startswith(".") or entry.name == skip:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if depth < MAX_DEPTH:
                    found.extend(_walk(Path(entry.path), f"{prefix}{entry.name}/", depth + 1))
                continue
            # A symlink is followed, as the model file's stamp is; a symlinked directory is then no
            # regular file, and nothing below it is read.
            details = entry.stat()
        except OSError:
            continue  # removed between the listing and the stat
        if stat.S_ISREG(details.st_mode):
            found.append((f"{prefix}{entry.name}", Path(entry.path), details))
    return found[:MAX_FILES]
