"""Atomic writes: modes kept, symlinks written through, stale temp files cleaned, fsync, safe folder swap."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

import attnviz
from attnviz import atomic
from attnviz.atomic import atomic_folder, atomic_outputs, atomic_path, atomic_write_text, clean_stale
from attnviz.capture import Capture, Example


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _cap():
    return Capture([Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))],
                   layers=[0], heads=[0], num_layers=1, num_heads=1)


def test_replacing_a_private_file_keeps_its_mode(tmp_path):
    path = _cap().save(tmp_path / "c.safetensors")
    os.chmod(path, 0o600)
    _cap().save(path)
    assert _mode(path) == 0o600
    atomic_write_text(tmp_path / "n.md", "a")
    os.chmod(tmp_path / "n.md", 0o640)
    atomic_write_text(tmp_path / "n.md", "b")
    assert _mode(tmp_path / "n.md") == 0o640 and (tmp_path / "n.md").read_text() == "b"


def test_new_files_get_the_umask_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "x.txt", "x")
    finally:
        os.umask(mask)
    assert _mode(tmp_path / "x.txt") == 0o644


def test_a_symlink_is_written_through(tmp_path):
    real = tmp_path / "data" / "cap.safetensors"
    real.parent.mkdir()
    _cap().save(real)
    os.chmod(real, 0o600)
    link = tmp_path / "link.safetensors"
    link.symlink_to(real)
    cap = _cap()
    cap.model_name = "new"
    cap.save(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert attnviz.load(real).model_name == "new" and _mode(real) == 0o600


def test_stale_temp_files_of_a_killed_save_are_removed_on_the_next_save(tmp_path):
    # a process that dies inside atomic_path leaves its temp file behind
    code = ("import os, sys\nfrom attnviz.atomic import atomic_path\n"
            f"with atomic_path({str(tmp_path / 'c.safetensors')!r}, suffix='.tmp') as tmp:\n"
            "    tmp.write_bytes(b'x' * 1000)\n    os._exit(9)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=False)
    left = [p for p in tmp_path.iterdir() if atomic.TMP_MARK in p.name]
    assert len(left) == 1
    other = tmp_path / ".notes.txt.swp"  # not ours: never touched
    other.write_text("keep")
    _cap().save(tmp_path / "c.safetensors")
    assert not [p for p in tmp_path.iterdir() if atomic.TMP_MARK in p.name]
    assert other.exists()


def test_live_temp_files_are_kept_and_old_ones_go(tmp_path):
    mine = tmp_path / f".x.{atomic.TMP_MARK}-{os.getpid()}-abc.tmp"
    mine.write_text("in use")
    assert clean_stale(tmp_path) == [] and mine.exists()
    os.utime(mine, (1, 1))  # older than a day
    assert clean_stale(tmp_path) == [mine]


def test_fsync_file_then_folder_before_and_after_the_rename(tmp_path, monkeypatch):
    calls = []
    real_replace = os.replace
    monkeypatch.setattr(atomic, "_fsync_file", lambda p: calls.append(("file", p.name)))
    monkeypatch.setattr(atomic, "_fsync_dir", lambda p: calls.append(("dir", str(p))))
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (calls.append(("replace",)), real_replace(a, b)))
    atomic_write_text(tmp_path / "a.txt", "a")
    assert [c[0] for c in calls] == ["file", "replace", "dir"]
    assert calls[2][1] == str(tmp_path)


def test_failed_write_leaves_the_old_file(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert (tmp_path / "a.txt").read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_atomic_folder_never_leaves_neither(tmp_path, monkeypatch):
    target = tmp_path / "model"
    with atomic_folder(target) as tmp:
        (tmp / "v").write_text("1")
    # the old folder is renamed aside before the new one moves in; the move of the new one fails:
    real_replace = os.replace

    def failing(a, b):
        if str(b) == str(target) and ".attnviz-tmp-" in str(a):
            raise OSError("crash")
        return real_replace(a, b)

    monkeypatch.setattr(atomic.os, "replace", failing)
    with pytest.raises(OSError):
        with atomic_folder(target) as tmp:
            (tmp / "v").write_text("2")
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    assert (target / "v").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    with atomic_folder(target) as tmp:
        (tmp / "v").write_text("3")
    assert (target / "v").read_text() == "3" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_folder_rename_aside_order(tmp_path, monkeypatch):
    target = tmp_path / "model"
    target.mkdir()
    (target / "v").write_text("old")
    moves = []
    real_replace = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (moves.append((str(a), str(b))), real_replace(a, b)))
    with atomic_folder(target) as tmp:
        (tmp / "v").write_text("new")
    assert moves[0][0] == str(target) and atomic.OLD_MARK in moves[0][1]  # old aside first
    assert moves[1][1] == str(target)  # then the new one in; the old is deleted last
    assert (target / "v").read_text() == "new" and os.listdir(tmp_path) == ["model"]


def test_atomic_outputs_all_or_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_outputs(out) as tmp:
            (tmp / "a.json").write_text("{}")
            raise RuntimeError("figure failed")
    assert not out.exists() and os.listdir(tmp_path) == []
    out.mkdir()
    (out / "keep.txt").write_text("k")
    with atomic_outputs(out) as tmp:
        (tmp / "a.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "keep.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        with atomic_outputs(tmp_path / "file"):
            pass
