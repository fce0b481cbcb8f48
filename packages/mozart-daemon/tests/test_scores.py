"""Reading a job's score in the daemon: what is loaded where (loop or thread), the client's
read permission on the score and the files it names, and the wire errors."""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mozart_daemon import errors, peer
from mozart_daemon.jobs import scores
from mozart_daemon.peer import PEER, Peer

SCORE = """\
name: s
workspace: ./ws
backend: {type: command, command: 'true'}
sheet: {size: 1, total_items: 2}
prompt: {template: "sheet {{ sheet_num }}"}
"""
NOBODY = Peer(pid=1, uid=65534, gid=65534)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every uid may enter (tmp_path is private to its owner)."""
    directory = Path(tempfile.mkdtemp(prefix="mozart-scores-"))
    directory.chmod(0o755)
    yield directory
    for child in directory.iterdir():
        child.chmod(0o644)
        child.unlink()
    directory.rmdir()


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The scores loaded through asyncio.to_thread (a worker thread, not the loop)."""
    calls: list[str] = []
    real = asyncio.to_thread

    async def recording(func: Callable[..., Any], /, *args: Any) -> Any:
        calls.append(str(args[0]))
        return await real(func, *args)

    monkeypatch.setattr(asyncio, "to_thread", recording)
    return calls


async def test_small_score_is_loaded_on_the_loop(tmp_path: Path, threads: list[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCORE)
    loaded = await scores.read_score(str(path))
    assert loaded.score.name == "s" and loaded.path == path
    assert loaded.base_dir == tmp_path and loaded.warnings == []
    assert threads == []


async def test_large_score_is_loaded_in_a_thread(tmp_path: Path, threads: list[str]) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(SCORE + "# padding\n" * (scores.INLINE_BYTES // 10 + 1))
    loaded = await scores.read_score(str(path))
    assert loaded.score.name == "s"
    assert threads == [str(path)]


async def test_a_fifo_is_never_opened_on_the_loop(tmp_path: Path, threads: list[str]) -> None:
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    reading = asyncio.ensure_future(scores.read_score(str(path)))
    await asyncio.sleep(0.05)  # the loop still runs while the open waits for a writer
    assert not reading.done()
    writer = threading.Thread(target=path.write_text, args=(SCORE,))
    writer.start()
    loaded = await asyncio.wait_for(reading, timeout=10)
    writer.join(timeout=10)
    assert loaded.score.name == "s"
    assert threads == [str(path)]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: None, "No such file or directory"),
        (lambda p: p.mkdir(), "Is a directory"),
        (lambda p: p.write_bytes(b"name: \xff\n"), "can't decode byte 0xff"),
    ],
    ids=["missing", "directory", "not-utf8"],
)
async def test_unreadable_scores(tmp_path: Path, make: Callable[[Path], None], reason: str) -> None:
    path = tmp_path / "s.yaml"
    make(path)
    with pytest.raises(errors.DaemonError) as caught:
        await scores.read_score(str(path))
    assert caught.value.code == errors.SCORE_NOT_READABLE
    assert caught.value.message.startswith(f"Cannot read the score {path}: cannot read score: ")
    assert reason in caught.value.message


async def test_invalid_score_carries_every_finding(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCORE.replace("size: 1", "size: 0") + "priority: 1\npriority: 2\n")
    with pytest.raises(errors.DaemonError) as caught:
        await scores.read_score(str(path))
    assert caught.value.code == errors.SCORE_INVALID
    assert caught.value.data == {
        "findings": [
            {"code": "E104", "severity": "error", "message": "must be >= 1, got 0",
             "file": str(path), "line": 4, "column": 15, "path": "sheet.size"},
            {"code": "E106", "severity": "error",
             "message": "duplicate key `priority` (the last one wins in YAML; remove one)",
             "file": str(path), "line": 7, "column": 1, "path": "priority"},
        ]
    }  # fmt: skip


async def test_relative_paths_are_taken_from_the_score_directory(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("sheet {{ sheet_num }}")
    path = tmp_path / "s.yaml"
    path.write_text(SCORE.replace('template: "sheet {{ sheet_num }}"', "template_file: t.j2"))
    cwd = os.getcwd()
    os.chdir("/")
    try:
        loaded = await scores.read_score(str(path))
    finally:
        os.chdir(cwd)
    assert loaded.resolve("t.j2") == tmp_path / "t.j2"


def _as(peer: Peer) -> Any:
    return PEER.set(peer)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make files others cannot read")
async def test_a_client_cannot_make_the_daemon_read_what_it_cannot(shared_dir: Path) -> None:
    score = shared_dir / "s.yaml"
    score.write_text(SCORE)
    token = _as(NOBODY)
    try:
        assert (await scores.read_score(str(score))).score.name == "s"
        score.chmod(0o600)
        with pytest.raises(errors.DaemonError) as caught:
            await scores.read_score(str(score))
        assert caught.value.code == errors.SCORE_NOT_READABLE
        assert "permission denied (uid 65534 may not read" in caught.value.message
        score.chmod(0o644)
        secret = shared_dir / "secret.j2"
        secret.write_text("x")
        secret.chmod(0o600)
        score.write_text(
            SCORE.replace('template: "sheet {{ sheet_num }}"', "template_file: secret.j2")
        )
        with pytest.raises(errors.DaemonError) as caught:
            await scores.read_score(str(score))
        assert caught.value.code == errors.SCORE_NOT_READABLE
        assert f"Cannot read the score {secret}: permission denied" in caught.value.message
        secret.chmod(0o644)
        assert (await scores.read_score(str(score))).score.prompt.template_file == "secret.j2"
    finally:
        PEER.reset(token)


@pytest.mark.parametrize(
    "content",
    [
        SCORE.encode(),
        SCORE.replace("\n", "\r\n").encode(),
        SCORE.replace("\n", "\r").encode(),
        b"\xef\xbb\xbf" + SCORE.encode() + b"description: 'a\r\n\r\rb'\n",
        SCORE.encode() + 'description: "é\u2028x"\n'.encode(),
        b"",
    ],
    ids=["lf", "crlf", "cr", "bom-mixed", "unicode", "empty"],
)
def test_inline_read_is_what_read_text_gives(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    assert scores._read_inline(str(path)) == path.read_text(encoding="utf-8")


def test_inline_read_of_a_file_larger_than_its_size_or_read_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One read when it gives the size fstat found; else to the end of the file: /proc's
    files say 0 bytes, and a read may give fewer bytes than asked for."""
    status = Path("/proc/self/status")
    assert os.stat(status).st_size == 0
    assert scores._read_inline(str(status)).startswith("Name:")
    path = tmp_path / "s.yaml"
    path.write_text(SCORE)
    real = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: real(fd, min(n, 7)))
    assert scores._read_inline(str(path)) == SCORE


async def test_scores_with_other_line_ends_load_alike(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    loaded = []
    for end in ("\n", "\r\n", "\r"):
        path.write_bytes(SCORE.replace("\n", end).encode() + b"priority: 10" + end.encode())
        with pytest.raises(errors.DaemonError) as caught:
            await scores.read_score(str(path))
        loaded.append(caught.value.data)
    assert loaded[0] == loaded[1] == loaded[2]


def test_a_score_that_is_no_longer_small_is_not_read_inline(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCORE + "#" * scores.INLINE_BYTES)
    with pytest.raises(scores._NotInline):
        scores._load_for_peer(str(path), inline=True)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(scores._NotInline):  # opened without waiting for a writer
        scores._load_for_peer(str(fifo), inline=True)


def _reference_reason(path: Path, uid: int, gid: int) -> str | None:
    """The kernel's rule as peer.py first wrote it: the groups looked up at once, Path's
    parents."""
    groups = peer._groups(uid, gid)

    def permits(st: os.stat_result, bit: int) -> bool:
        if st.st_uid == uid:
            return bool(st.st_mode & (bit << 6))
        if st.st_gid in groups:
            return bool(st.st_mode & (bit << 3))
        return bool(st.st_mode & bit)

    real = Path(os.path.realpath(path))
    try:
        for directory in reversed(real.parents):
            if not permits(os.stat(directory), 1):
                return f"uid {uid} may not enter {directory}"
        st = os.stat(real)
    except OSError:
        return None
    if stat.S_ISREG(st.st_mode) and not permits(st, 4):
        return f"uid {uid} may not read {real}"
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files other owners")
def test_the_permission_rule_is_the_kernels(shared_dir: Path) -> None:
    """Every owner, group and mode bit that decides, on a directory and on the file."""
    inner = shared_dir / "d"
    inner.mkdir()
    score = inner / "s.yaml"
    score.write_text(SCORE)
    ids = (0, NOBODY.uid)
    seen = set()
    try:
        for owner, group, dir_mode, file_mode in itertools.product(
            ids, ids, (0o700, 0o710, 0o701, 0o711), (0o600, 0o640, 0o604, 0o644)
        ):
            os.chown(inner, owner, group)
            os.chown(score, owner, group)
            inner.chmod(dir_mode)
            score.chmod(file_mode)
            for path in (score, inner, shared_dir / "d" / "missing.yaml", Path("/")):
                reason = peer.unreadable_reason(path, NOBODY.uid, NOBODY.gid)
                assert reason == _reference_reason(path, NOBODY.uid, NOBODY.gid)
                seen.add(reason)
    finally:
        inner.chmod(0o755)
        score.unlink()
        inner.rmdir()
    assert len(seen) == 3  # readable, a directory not entered, a file not read


def test_groups_are_looked_up_only_where_they_decide(
    shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    score = shared_dir / "s.yaml"
    score.write_text(SCORE)
    score.chmod(0o644)
    lookups: list[int] = []
    real_groups = peer._groups
    monkeypatch.setattr(
        peer, "_groups", lambda uid, gid: lookups.append(uid) or real_groups(uid, gid)
    )
    # Owned by another uid, group and others alike (what most paths are): no lookup.
    assert peer.unreadable_reason(score, NOBODY.uid, NOBODY.gid) is None
    assert lookups == []
    score.chmod(0o640)
    assert peer.unreadable_reason(str(score), NOBODY.uid, NOBODY.gid) is not None
    assert lookups == [NOBODY.uid]
