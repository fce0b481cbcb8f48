"""``is_daemon_available``: the CLI's first question, answered without an event loop.

Blocking and loop-free on purpose: it runs before anything else in the CLI, and it must
also work when called from inside a running event loop.
"""

from __future__ import annotations

import os
import socket

import msgspec

from mozart_protocol import framing
from mozart_protocol._generated.methods import Method
from mozart_protocol._transport import check_peer, not_running, resolve_socket_path
from mozart_protocol.errors import ProtocolError

_MAX_REPLY = 65536  # a health reply is tiny: anything longer is not one


def is_daemon_available(
    socket_path: str | os.PathLike[str] | None = None, timeout: float = 2.0
) -> bool:
    """True when a daemon of ours answers ``daemon.health`` with ok; never raises."""
    try:
        return _health_ok(str(resolve_socket_path(socket_path)), timeout)
    except Exception:  # fail-safe by contract: a daemon bug must never break the caller
        return False


def _health_ok(path: str, timeout: float) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as exc:
            raise not_running(path, exc) from exc
        check_peer(sock, path)
        request = {"jsonrpc": "2.0", "id": 1, "method": Method.DAEMON_HEALTH, "params": {}}
        sock.sendall(framing.encode_message(request))
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(_MAX_REPLY)
            if not chunk or len(reply) > _MAX_REPLY:
                raise ProtocolError("no health reply")
            reply += chunk
    message = msgspec.json.decode(reply.split(b"\n", 1)[0])
    return isinstance(message, dict) and (message.get("result") or {}).get("status") == "ok"
