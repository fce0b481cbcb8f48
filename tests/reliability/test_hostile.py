"""Hostile input on the raw socket: generated JSON-RPC envelopes (hypothesis), random bytes,
batches, deep nesting, huge numbers, truncated and oversized lines, a slow client, and
connections opened and dropped by the thousand.

After every input the same connection (when still open) or a new one must get a proper
``daemon.health`` reply; every reply line is a JSON-RPC 2.0 object with a documented error
code, and never -32603 (an internal error means a handler choked on input it should have
refused). The daemon's open file descriptors and RSS must stay bounded.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import (
    connect,
    daemon_fds,
    daemon_rss_mb,
    record,
    size,
    wait_for,
)

pytestmark = pytest.mark.timeout(1200)

DOCUMENTED = {
    -32700, -32600, -32601, -32602, -32001, -32002, -32003, -32004, -32005, -32006,
    -32007, -32008, -32009, -32010, -32011,
}  # fmt: skip
METHODS = [
    "job.submit",
    "job.status",
    "job.pause",
    "job.resume",
    "job.cancel",
    "job.list",
    "job.follow",
    "job.logs",
    "daemon.status",
    "daemon.health",
    "daemon.ready",
    "rpc.discover",
]  # fmt: skip  (daemon.shutdown is the one method a fuzzer must not call)
PROBE = b'{"jsonrpc":"2.0","id":"probe","method":"daemon.health"}\n'


@pytest.fixture(scope="module")
def target() -> Iterator[Any]:
    """One daemon for the whole module (hypothesis runs many examples against it)."""
    import tempfile
    from pathlib import Path

    from reliability_support import DaemonHandle

    directory = Path(tempfile.mkdtemp(prefix="mzh", dir="/tmp"))
    handle = DaemonHandle(directory, {"socket": {"max_connections": 200}})
    handle.start()
    yield handle
    handle.stop()
    handle.kill9()
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


def _check_reply(line: bytes) -> dict[str, Any]:
    reply = json.loads(line)
    assert isinstance(reply, dict) and reply.get("jsonrpc") == "2.0", reply
    if "error" in reply:
        code = reply["error"]["code"]
        assert code in DOCUMENTED, reply
        assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]
        assert "Traceback" not in reply["error"]["message"]
    else:
        assert "result" in reply, reply
    return reply


def exchange(handle: Any, payload: bytes, *, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Send ``payload`` then a health probe on the same connection; return every reply up to
    the probe's. If the daemon closed the connection (oversized or truncated input), probe
    on a new one."""
    replies: list[dict[str, Any]] = []
    with connect(handle, timeout) as s:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(payload + PROBE)
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                reply = _check_reply(line)
                if reply.get("id") == "probe":
                    assert reply["result"]["status"] == "ok"
                    return replies
                replies.append(reply)
    # Closed before the probe was answered: the daemon must still serve others.
    assert health(handle)
    return replies


def health(handle: Any, timeout: float = 10.0) -> bool:
    with connect(handle, timeout) as s:
        s.sendall(PROBE)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return bool(json.loads(buf)["result"]["status"] == "ok")


# -- hypothesis: JSON-RPC envelopes with hostile parts ----------------------------------------

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**200),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_value = st.recursive(
    json_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=12), children, max_size=5),
    ),
    max_leaves=20,
)
params = st.one_of(
    json_value,
    st.fixed_dictionaries(
        {},
        optional={
            "job_id": json_value,
            "config_path": st.one_of(json_value, st.just("/nonexistent/x.yaml")),
            "limit": st.one_of(st.integers(), json_value),
            "after": json_value,
            "status": st.one_of(st.sampled_from(["queued", "bogus"]), json_value),
            "all": json_value,
            "priority": json_value,
            "sheet_num": json_value,
            "tail": json_value,
            "follow": st.just(False),
            "unknown_field": json_value,
        },
    ),
)
envelope = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.one_of(st.just("2.0"), json_scalar),
        "id": st.one_of(st.integers(), st.text(max_size=10), json_value),
        "method": st.one_of(st.sampled_from(METHODS), st.text(max_size=20), json_scalar),
        "params": params,
        "extra": json_value,
    },
)
message = st.one_of(envelope, st.lists(envelope, max_size=4), json_value)


def _encode(value: object) -> bytes:
    return json.dumps(value).encode()


@settings(
    max_examples=size("hypothesis_examples"),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=message)
def test_generated_messages_get_proper_replies(target: Any, value: object) -> None:
    record(hostile_inputs=1)
    replies = exchange(target, _encode(value) + b"\n")
    for reply in replies:
        assert reply.get("error", {}).get("code") != -32603, reply
    if isinstance(value, dict) and "id" in value and len(replies) == 0:
        # A request with an id always gets an answer (notifications never do).
        raise AssertionError(f"no reply to {value!r}")


@settings(
    max_examples=size("hypothesis_examples"),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=st.binary(max_size=300))
def test_generated_bytes_get_proper_replies(target: Any, raw: bytes) -> None:
    record(hostile_inputs=1)
    line = raw.replace(b"\n", b" ")
    replies = exchange(target, line + b"\n")
    assert len(replies) <= 1


def test_handwritten_hostile_lines(target: Any) -> None:
    rng = random.Random(6)
    cases: list[bytes] = [
        b"\xff\xfe\xfd",  # invalid UTF-8
        b'{"jsonrpc":"2.0","id":1,"method":"daemon.health\xc3\x28"}',
        b'{"jsonrpc":"2.0","id":"\xed\xa0\x80","method":"daemon.health"}',  # surrogate
        b"[]",
        b"[1,2,3]",
        b"null",
        b'"just a string"',
        b"12345678901234567890123456789012345678901234567890",
        b'{"jsonrpc":"2.0","id":1e999,"method":"daemon.health"}',
        b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"daemon.health"}',
        b'{"jsonrpc":"2.0","id":1,"method":"job.list","params":{"limit":' + b"9" * 400 + b"}}",
        b'{"jsonrpc":"2.0","id":1,"method":"job.list","params":{"limit":-1}}',
        b'{"jsonrpc":"2.0","id":1,"method":"job.list","params":{"after":"!!!"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"job.list","params":{"after":"WzEsMl0"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"job.status","params":{"job_id":"../../etc"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"job.logs","params":{"job_id":"x","tail":-5}}',
        b'{"jsonrpc":"2.0","id":1,"method":"job.submit","params":{"config_path":"rel.yaml"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"job.submit","params":{"config_path":"/dev/null"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"job.submit","params":{"config_path":"/proc"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"daemon.health","params":[1,2]}',
        b'{"jsonrpc":"2.0","id":1,"method":"daemon.health","params":{"x":1}}',
        b'{"jsonrpc":"2.0","id":true,"method":"daemon.health"}',
        b'{"jsonrpc":"2.0","id":[1],"method":"daemon.health"}',
        b'{"jsonrpc":"1.0","id":1,"method":"daemon.health"}',
        b'{"jsonrpc":"2.0","id":1,"method":"daemon.health","jsonrpc":"3"}',
        b'[{"jsonrpc":"2.0","id":1,"method":"daemon.health"}]',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"[" * 1_000_000,
        b'{"jsonrpc":"2.0","id":1,"method":"' + b"m" * 1_000_000 + b'"}',
        b"\x00" * 1000,
        b"   \t  ",
    ]
    cases += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000))) for _ in range(20)]
    for case in cases:
        replies = exchange(target, case.replace(b"\n", b" ") + b"\n")
        assert len(replies) <= 1, (case[:80], replies)
        for reply in replies:
            assert reply.get("error", {}).get("code") != -32603, (case[:80], reply)
    record(hostile_inputs=len(cases))


def test_random_blobs_with_newlines(target: Any) -> None:
    """Random bytes, newlines included: many lines per connection, each answered or not."""
    rng = random.Random(7)
    fds = daemon_fds(target)
    n = size("random_blobs")
    for _ in range(n):
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4000)))
        exchange(target, blob + b"\n")
    record(hostile_inputs=n)
    wait_for(lambda: daemon_fds(target) <= fds + 5, 10, "fds back to baseline")


def test_truncated_and_oversized_lines(target: Any) -> None:
    fds, rss = daemon_fds(target), daemon_rss_mb(target)
    # Truncated: half a message, then the connection closes.
    for _ in range(20):
        with connect(target) as s:
            s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon.he')
    # Oversized: one line past the 16 MiB cap: refused with -32009, then closed.
    for _ in range(3):
        with connect(target, 30) as s:
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(20):
                    s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = b""
            try:
                while not data.endswith(b"\n"):
                    part = s.recv(65536)
                    if not part:
                        break
                    data += part
            except ConnectionResetError:
                pass
            assert json.loads(data)["error"]["code"] == -32009
    record(hostile_inputs=23)
    assert health(target)
    wait_for(lambda: daemon_fds(target) <= fds + 5, 10, "fds back to baseline")
    # The line buffer is freed: RSS does not keep the 16 MiB lines.
    assert daemon_rss_mb(target) < rss + 80, (rss, daemon_rss_mb(target))


def test_slow_client_does_not_block_others(target: Any) -> None:
    """One byte per second: other clients are served meanwhile; the slow one is answered."""
    n = size("slow_client_bytes")
    message = b'{"jsonrpc":"2.0","id":"slow","method":"daemon.health"}\n'
    result: dict[str, Any] = {}

    def slow() -> None:
        with connect(target, n + 30) as s:
            for i in range(n):
                s.sendall(message[i : i + 1])
                time.sleep(1.0)
            s.sendall(message[n:])
            result["reply"] = s.recv(65536)

    thread = threading.Thread(target=slow)
    thread.start()
    worst = 0.0
    try:
        while thread.is_alive():
            t0 = time.monotonic()
            assert health(target, timeout=5)
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.2)
    finally:
        thread.join(timeout=n + 40)
    assert worst < 2.0, worst
    assert json.loads(result["reply"])["result"]["status"] == "ok"
    record(hostile_inputs=1, slow_client_seconds=n)


def test_connections_opened_and_dropped(target: Any) -> None:
    """Open and drop connections by the thousand, in every state: the daemon keeps serving and
    gives back every file descriptor."""
    n = size("churn_connections")
    health(target)
    fds, rss = daemon_fds(target), daemon_rss_mb(target)
    request = b'{"jsonrpc":"2.0","id":1,"method":"job.list","params":{"all":true}}\n'
    for i in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(target.socket_path))
            kind = i % 4
            if kind == 1:
                s.sendall(b'{"jsonrpc":')  # half a line
            elif kind == 2:
                s.sendall(request)  # a request whose reply nobody reads
            elif kind == 3:
                s.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                s.sendall(request * 3)  # reset instead of a clean close
        except OSError:
            pass  # the backlog may be full for an instant: that is a refusal, not a fault
        finally:
            s.close()
    record(connections_churned=n)
    assert health(target)
    wait_for(lambda: daemon_fds(target) <= fds + 5, 20, f"fds back to {fds}")
    assert daemon_rss_mb(target) < rss + 50, (rss, daemon_rss_mb(target))
