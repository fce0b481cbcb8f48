"""The client behind the current request, and which files it may make the daemon read.

The server records each connection's SO_PEERCRED identity in ``PEER`` (a context variable:
every connection is its own task, so handlers see their own client). A score is read by the
daemon, often as a more privileged user than the client; ``require_readable`` refuses a score
(or a template or system prompt file it names) that the client's own uid could not read, so
that no client can use the daemon to read, or learn from error messages about, another user's
files.

The check is the kernel's rule applied to the client's uid and groups (primary and
supplementary): search (x) permission on every directory of the resolved path and read (r)
permission on the file, by owner, group or other bits. POSIX ACLs are not consulted (so an
ACL that grants more is ignored and the score refused), and a client that swaps a path it owns
between the check and the read can still race it; the daemon's socket group is trusted for
that reason (see docs/reliability.md).
"""

from __future__ import annotations

import os
import pwd
import stat
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from mozart_daemon import errors


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int


PEER: ContextVar[Peer | None] = ContextVar("mozart_peer", default=None)


def _groups(uid: int, gid: int) -> set[int]:
    try:
        return {gid, *os.getgrouplist(pwd.getpwuid(uid).pw_name, gid)}
    except (KeyError, OSError):
        return {gid}


def unreadable_reason(path: Path | str, uid: int, gid: int) -> str | None:
    """Why ``uid`` could not read ``path`` (None: it could). Root reads everything."""
    if uid == 0:
        return None
    # Group membership decides only where the group and other bits differ: looked up (a
    # passwd and a group lookup, most of the check's cost) the first time one does.
    groups: set[int] | None = None

    def permits(st: os.stat_result, bit: int) -> bool:
        """Whether ``uid`` has the ``bit`` (4 r, 1 x) permission on a file with stat ``st``."""
        nonlocal groups
        if st.st_uid == uid:
            return bool(st.st_mode & (bit << 6))
        by_group, by_other = bool(st.st_mode & (bit << 3)), bool(st.st_mode & bit)
        if by_group == by_other:
            return by_other
        if groups is None:
            groups = _groups(uid, gid)
        return by_group if st.st_gid in groups else by_other

    real = os.path.realpath(path)
    parents = []  # what Path(real).parents gives, as text: the path is absolute and normal
    directory = real
    while (above := os.path.dirname(directory)) != directory:
        parents.append(above)
        directory = above
    try:
        for directory in reversed(parents):
            if not permits(os.stat(directory), 1):
                return f"uid {uid} may not enter {directory}"
        st = os.stat(real)
    except OSError:
        return None  # missing or unreachable for the daemon too: the loader says so
    if stat.S_ISREG(st.st_mode) and not permits(st, 4):
        return f"uid {uid} may not read {real}"
    return None


def require_readable(path: Path | str) -> None:
    """Raise SCORE_NOT_READABLE when the current client could not read ``path`` itself."""
    peer = PEER.get()
    if peer is None:
        return  # not on behalf of a socket client (tests, internal calls)
    reason = unreadable_reason(path, peer.uid, peer.gid)
    if reason is not None:
        raise errors.DaemonError(
            errors.SCORE_NOT_READABLE,
            f"Cannot read the score {path}: permission denied ({reason}). mozartd reads a "
            "score only if the client that submits it could read it itself.",
        )
