"""Atomic file writes: a failure never leaves half a file on disk.

Every writer in attnviz (captures, figures, HTML views, reports) goes through
:func:`atomic_path`, which hands out a temporary path in the target's folder and
renames it over the target only when the block finished without an exception.

Example (a write that fails midway leaves nothing):
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> try:
    ...     with atomic_path(target) as tmp:
    ...         _ = tmp.write_text("half")
    ...         raise RuntimeError("killed midway")
    ... except RuntimeError:
    ...     pass
    >>> target.exists()
    False
"""
from __future__ import annotations

__all__ = ["atomic_folder", "atomic_outputs", "atomic_path", "atomic_write_text", "clean_stale"]

import contextlib
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

#: Marker in the names of our temporary files and folders; with the writer's process id,
#: it lets the next save into a folder remove what a killed save left behind.
TMP_MARK = "attnviz-tmp"
OLD_MARK = "attnviz-old"
STALE_AFTER_S = 24 * 3600
_OURS = re.compile(rf"^\..*\.(?:{TMP_MARK}|{OLD_MARK})-(\d+)-[A-Za-z0-9_]+(?:\.[^/]*)?$")


def _resolve_target(path: str | os.PathLike) -> Path:
    """The file to write: a symlink is written through to the file it points to."""
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    The temporary file keeps the target's extension (or ``suffix``) so that
    writers that pick a format by extension (matplotlib, for one) still work.
    On an exception the temporary file is removed and ``path`` is untouched.

    Guarantees: the new file is fsynced before the rename and the folder after it; a file
    that is replaced keeps its permission bits (a 0600 capture stays 0600), a new file gets
    the usual ``0666 & ~umask``; a symlink is written *through*: the file it points to is
    replaced and the link stays a link; temporary files of earlier saves into the same
    folder that were killed midway (their process is gone, or they are older than a day)
    are removed.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
        >>> with atomic_path(p) as tmp:
        ...     _ = tmp.write_text("{}")
        >>> p.exists()
        True
    """
    target = _resolve_target(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.exists():
        raise FileNotFoundError(
            f"cannot write {target}: the folder {folder} does not exist; create it first "
            f"(for example with `mkdir -p {folder}`)"
        )
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {target}: it is a folder; pass a file path")
    clean_stale(folder)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.{TMP_MARK}-{os.getpid()}-",
        suffix=suffix if suffix is not None else target.suffix, dir=folder,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()  # mkstemp makes 0600 files; give the usual permissions
        os.chmod(tmp, mode)
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(folder)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging folder beside ``path``; on success it replaces ``path`` as a whole.

    For folders written by several calls (a model and its tokenizer): a failure leaves the
    old folder, never a half-written one. The swap never leaves neither: the old folder is
    renamed aside, the new one moved in, and only then is the old one deleted (a crash in
    between leaves the old folder beside, under a hidden ``.<name>.attnviz-old-*`` name, which
    the next save into that folder removes).

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "model"
        >>> with atomic_folder(target) as tmp:
        ...     _ = (tmp / "config.json").write_text("{}")
        >>> sorted(p.name for p in target.iterdir())
        ['config.json']
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"cannot write the folder {target}: a file of that name exists; "
                              "remove it or pick another path")
    with _staged_beside(target, _swap_in) as staging:
        yield staging


@contextlib.contextmanager
def _staged_beside(target: Path, finish: Callable[[Path, Path], None]) -> Iterator[Path]:
    """Yield a hidden staging folder beside ``target``; when the block ends without an exception,
    give it the umask's mode, fsync its files and hand it to ``finish(staging, target)``; the
    staging folder never outlives the call."""
    clean_stale(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{TMP_MARK}-{os.getpid()}-", dir=target.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        for f in staging.rglob("*"):
            if f.is_file() and not f.is_symlink():
                _fsync_file(f)
        finish(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``; an old ``target`` is renamed aside first, deleted last."""
    old = None
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.{OLD_MARK}-{os.getpid()}-", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    _fsync_dir(target.parent)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()


@contextlib.contextmanager
def atomic_outputs(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging folder for a set of output files; move them into ``path`` when all are done.

    For commands that write several files (a comparison's JSON, Markdown and figures): they
    are written into a hidden folder beside ``path`` and moved in only when the block ends
    without an exception. On failure nothing is moved, and ``path`` is not created. When
    ``path`` already exists, files of other names in it stay; files of the same name are
    replaced.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp())                  # a folder with a file already
        >>> _ = (out / "notes.txt").write_text("kept")
        >>> with atomic_outputs(out) as tmp:
        ...     _ = (tmp / "a.txt").write_text("a")
        >>> sorted(p.name for p in out.iterdir())                   # unlike atomic_folder, merged
        ['a.txt', 'notes.txt']
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} is a file, not a folder: pass a folder path for the outputs")
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    with _staged_beside(target, _move_or_merge) as staging:
        yield staging


def _move_or_merge(source: Path, target: Path) -> None:
    if not target.exists():
        os.replace(source, target)
        _fsync_dir(target.parent)
    else:
        _merge_into(source, target)


def _merge_into(source: Path, target: Path) -> None:
    for entry in sorted(source.iterdir()):
        dest = target / entry.name
        if entry.is_dir() and dest.is_dir():
            _merge_into(entry, dest)
        elif entry.is_dir():
            _swap_in(entry, dest)
        else:
            dest = _resolve_target(dest)
            try:
                os.chmod(entry, stat.S_IMODE(os.stat(dest).st_mode))
            except FileNotFoundError:
                pass
            os.replace(entry, dest)
    _fsync_dir(target)


def clean_stale(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files/folders of attnviz saves into ``folder`` that were killed midway.

    Only names of our own pattern (``.<name>.attnviz-tmp-<pid>-*``) are touched, and only when
    their process is gone or they are older than a day. Returns what was removed.

    Example:
        >>> import tempfile
        >>> clean_stale(tempfile.mkdtemp())
        []
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        m = _OURS.match(entry.name)
        if m is None:
            continue
        pid = int(m.group(1))
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if _alive(pid) and age < STALE_AFTER_S:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True
    return True


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """fsync a folder so that a rename in it survives a power cut (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8) and return the path.

    Example:
        >>> import tempfile, pathlib
        >>> p = atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "n.md", "# hi")
        >>> p.read_text()
        '# hi'
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
