"""The one atomic write (frozen_bench.atomic): complete or absent, never half-written; and the one lock."""

import os
import subprocess
import sys

import pytest

from frozen_bench.atomic import atomic_open, atomic_path, atomic_write_text, locked


def test_write_creates_folders_and_a_plain_file(tmp_path):
    p = tmp_path / "a" / "b" / "x.txt"
    atomic_write_text(p, "hello")
    assert p.read_text() == "hello"
    mask = os.umask(0o022)
    os.umask(mask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask  # like open(), not mkstemp's 0600
    with atomic_open(p, "wb") as f:
        f.write(b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01" and os.listdir(p.parent) == ["x.txt"]


def test_an_error_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(p, "w") as f:
            f.write("half")
            raise RuntimeError("killed mid-write")
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["x.txt"]


def test_atomic_path_lets_a_tool_write_the_file(tmp_path):
    p = tmp_path / "out.bin"
    with atomic_path(p) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.bin.") and tmp.name.endswith(".tmp")
        subprocess.run([sys.executable, "-c", f"open({str(tmp)!r}, 'wb').write(b'ok')"], check=True)
        assert not p.exists()
    assert p.read_bytes() == b"ok" and os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("mask", [0o027, 0o002, 0o077])
def test_the_published_file_honours_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "x.txt", "hello")
    finally:
        os.umask(old)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_run_record_honours_the_umask(tmp_path, monkeypatch):
    """Every file of a record (and all.csv) is 0666 & ~umask after its rename, not mkstemp's 0600:
    a group-shared results folder stays readable by the group."""
    from frozen_bench.cli import main

    monkeypatch.chdir(tmp_path)
    res = tmp_path / "results"
    old = os.umask(0o027)
    try:
        assert main(["run", "trainer.epochs=1", "trainer.latency_reps=0", "dataset.subset=64", f"results_dir={res}"]) == 0
    finally:
        os.umask(old)
    files = [p for p in res.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"config.yaml", "history.csv", "curve.png", "metrics.json", "all.csv"}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {p.name: oct(0o640) for p in files}


def test_locked_takes_turns_and_can_decline_or_run_unlocked(tmp_path):
    lock = tmp_path / "sub" / ".x.lock"
    with locked(lock) as held:
        assert held and lock.exists()
        with locked(lock, wait=False) as other:  # another open file: flock makes it wait, or decline at once
            assert other is False
    with locked(lock, wait=False) as again:  # released with the block
        assert again is True
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root writes anywhere: nothing to test
            return
        with pytest.raises(OSError):
            with locked(ro / ".lock"):
                pass
        with locked(ro / ".lock", optional=True) as held:
            assert held is False
    finally:
        ro.chmod(0o755)
