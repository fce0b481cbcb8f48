"""The start-up fast path of ``mozart status JOB --json`` and ``mozart list --json``.

Scripts and monitoring tools run these two thousands of times, so they are served with the
standard library alone: no Typer, asyncio, msgspec or generated models, which would multiply
the start-up time of the interpreter by ten. Even the ``json`` and ``socket`` modules are
left out (with ``re``, ``enum`` and ``selectors`` they cost about as much as the interpreter's
own start): the fast path uses their C cores, ``_json`` (the scanner and the string escaper
behind ``json.loads``/``json.dumps``) and ``_socket``, and prints JSON itself (:func:`dumps`,
the layout of ``json.dumps(indent=2, ensure_ascii=False)``, which is msgspec's).

It is not a second implementation of the commands: it answers only when it can prove that
its output is the one of the full command, and otherwise hands over (:func:`serve` returns
``None`` and the Typer app runs the command from the start). It hands over on

- any command line but the exact forms below;
- a reply that is not a well-formed JSON-RPC reply to our request (the full client then
  reports the broken protocol in its own words);
- a result whose shape is not exactly the schema's (:data:`JOB_STATUS`, :data:`JOB_LIST`:
  field names, JSON types, nullability, ranges, enum values, canonical timestamps; a test
  holds these tables equal to the generated msgspec models), or a value the two JSON
  encoders would print differently (a float outside ``1e-4 <= |x| < 1e16``);
- a daemon run by another user (the full client refuses it with its own message).

What it does answer, it prints exactly as the full command: the result object re-encoded
as msgspec prints it (field order of the schema, indent 2, non-ASCII as is), and every
error through :mod:`mozart_cli.messages`, the texts and exit codes the full command uses.
Tests run both paths on the same inputs and compare stdout, stderr and exit code.

Forms served (options in any order after the command; ``--socket=PATH`` too)::

    mozart status JOB --json [--socket PATH]
    mozart list --json [--all | -a] [--socket PATH]
"""

from __future__ import annotations

import os
import sys
import time

# _json and _socket are imported once a command line is known to be served: the other
# commands do not pay for them. typing is not imported at all (a few milliseconds).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Callable
    from typing import Any, TypeAlias

    # (field, kind, nullable, minimum, maximum, required): see JOB_STATUS below.
    Field: TypeAlias = tuple[str, str, bool, int | None, int | None, bool]
    # (method, params, result shape, job, --socket value)
    Request: TypeAlias = tuple[str, dict[str, Any], tuple[Field, ...], str | None, str | None]

DEFAULT_SOCKET_PATH = "/tmp/mozartd.sock"  # mozart_protocol.client.DEFAULT_SOCKET_PATH
SOCKET_ENV = "MOZART_SOCKET"
TIMEOUT = 30.0  # mozart_protocol.client.DEFAULT_TIMEOUT: connect included
MAX_MESSAGE_SIZE = 16 * 1024 * 1024  # mozart_protocol.framing.DEFAULT_MAX_MESSAGE_SIZE

# Why a connect failed, as mozart_protocol._transport words it (DaemonNotRunning.reason).
REASONS: dict[type[BaseException], str] = {
    FileNotFoundError: "no such file",
    ConnectionRefusedError: "connection refused",
    PermissionError: "permission denied",
    TimeoutError: "connection timed out",
}

JOB_STATES = ("queued", "running", "paused", "completed", "failed", "cancelled")
SHEET_STATES = ("pending", "running", "completed", "failed", "skipped")

# The result shapes: (field, kind, nullable, minimum, maximum, required) in the schema's
# order. For a string, minimum is its minimum length; "time" is a timestamp with a time
# zone; the states and lists name their own table; a field that is not required defaults to
# null (msgspec prints it as null when the reply leaves it out). tests/test_fast_path.py
# derives the same tables from the generated models, so a schema change fails that test
# (and, until this file follows, replies with the new shape simply take the full path).
SHEET_STATUS: tuple[Field, ...] = (
    ("sheet_num", "int", False, 1, None, True),
    ("status", "sheet_state", False, None, None, True),
    ("attempts", "int", False, 0, None, True),
    ("exit_code", "int", True, None, None, True),
    ("error", "str", True, None, None, True),
    ("started_at", "time", True, None, None, True),
    ("finished_at", "time", True, None, None, True),
    ("duration_seconds", "float", True, 0, None, True),
    ("stage", "int", False, 1, None, True),
    ("instance", "int", False, 1, None, True),
    ("expected_seconds", "float", True, 0, None, False),
)
JOB_STATUS: tuple[Field, ...] = (
    ("job_id", "str", False, 1, None, True),
    ("name", "str", False, None, None, True),
    ("status", "job_state", False, None, None, True),
    ("description", "str", True, None, None, True),
    ("config_path", "str", False, None, None, True),
    ("workspace", "str", False, None, None, True),
    ("priority", "int", False, 0, 9, True),
    ("total_sheets", "int", False, 0, None, True),
    ("completed_sheets", "int", False, 0, None, True),
    ("failed_sheets", "int", False, 0, None, True),
    ("sheets", "sheets", False, None, None, True),
    ("error", "str", True, None, None, True),
    ("created_at", "time", False, None, None, True),
    ("started_at", "time", True, None, None, True),
    ("finished_at", "time", True, None, None, True),
    ("updated_at", "time", False, None, None, True),
    ("eta_seconds", "float", True, 0, None, False),
)
JOB_SUMMARY: tuple[Field, ...] = (
    ("job_id", "str", False, 1, None, True),
    ("name", "str", False, None, None, True),
    ("status", "job_state", False, None, None, True),
    ("description", "str", True, None, None, True),
    ("priority", "int", False, 0, 9, True),
    ("total_sheets", "int", False, 0, None, True),
    ("completed_sheets", "int", False, 0, None, True),
    ("error", "str", True, None, None, True),
    ("created_at", "time", False, None, None, True),
    ("updated_at", "time", False, None, None, True),
)
JOB_LIST: tuple[Field, ...] = (
    ("jobs", "jobs", False, None, None, True),
    ("next_cursor", "str", True, None, None, True),
)
NESTED: dict[str, tuple[Field, ...]] = {"sheets": SHEET_STATUS, "jobs": JOB_SUMMARY}


class HandOver(Exception):
    """Not provably the full command's output: let the Typer app run the command."""


def serve(argv: list[str]) -> int | None:
    """Run ``argv`` (without the program name) if it is a served form: its exit code, or
    ``None`` when the full CLI must run it (nothing has been printed then)."""
    request = parse(argv)
    if request is None:
        return None
    method, params, shape, job, explicit = request
    try:
        return call(method, params, shape, job, resolve_socket_path(explicit))
    except HandOver:
        return None


def parse(argv: list[str]) -> Request | None:
    """``(method, params, result shape, job, --socket value)`` of a served form, else None."""
    if not argv or argv[0] not in ("status", "list"):
        return None
    command, rest = argv[0], argv[1:]
    positional: list[str] = []
    flags: set[str] = set()
    explicit: str | None = None
    seen_socket = False
    index = 0
    while index < len(rest):
        arg = rest[index]
        index += 1
        if arg.startswith("--socket="):
            value: str | None = arg[len("--socket=") :]
        elif arg == "--socket":
            if index >= len(rest):
                return None
            value, index = rest[index], index + 1
        elif arg.startswith("-"):
            name = "--all" if arg == "-a" else arg
            if name not in ("--json", "--all") or name in flags:
                return None
            flags.add(name)
            continue
        else:
            positional.append(arg)
            continue
        if seen_socket:
            return None  # click takes the last one; not worth mirroring
        seen_socket, explicit = True, value
    if "--json" not in flags:
        return None
    if command == "status":
        if len(positional) != 1 or flags != {"--json"}:
            return None
        job = positional[0]
        return "job.status", {"job_id": job}, JOB_STATUS, job, explicit
    if positional:
        return None
    params = {"status": None, "all": "--all" in flags, "limit": 50, "after": None}
    return "job.list", params, JOB_LIST, None, explicit


def resolve_socket_path(explicit: str | None) -> str:
    """``--socket`` > ``$MOZART_SOCKET`` > the default, spelt as ``str(pathlib.Path(p))``."""
    if explicit:
        return normalise(explicit)
    return normalise(os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET_PATH)


def normalise(path: str) -> str:
    """``str(pathlib.PurePosixPath(path))`` without importing pathlib."""
    if path.startswith("//") and not path.startswith("///"):
        root = "//"
    elif path.startswith("/"):
        root = "/"
    else:
        root = ""
    parts = [part for part in path.split("/") if part and part != "."]
    return (root + "/".join(parts)) or "."


def call(
    method: str, params: dict[str, Any], shape: tuple[Field, ...], job: str | None, path: str
) -> int:
    try:
        import _socket
    except ImportError:  # pragma: no cover - not CPython
        raise HandOver from None
    deadline = time.monotonic() + TIMEOUT
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    try:
        line = dumps(request).encode()
    except UnicodeEncodeError:
        raise HandOver from None  # an argument that is not valid text (surrogate escapes)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            connect(sock, path, deadline)
        except TimeoutError:
            return _no_reply(method, path)
        except (OSError, ValueError) as exc:
            return _unreachable(path, exc)
        check_peer(sock)
        try:
            reply = exchange(sock, line + b"\n", deadline)
        except TimeoutError:
            return _no_reply(method, path)
        except OSError:
            raise HandOver from None
    finally:
        sock.close()
    if "error" in reply:
        code, message, data = error_object(reply["error"])
        ident = reply.get("id", ...)
        if not (ident is None or (type(ident) is int and ident == 1)):
            raise HandOver  # a reply to another request
        if code == -32006 or not message:
            raise HandOver  # shown with its findings; the client's default text for the code
        from mozart_cli import messages

        return messages.show(messages.rpc_error(code, message, data, job=job))
    if type(reply.get("id")) is not int or reply["id"] != 1 or "result" not in reply:
        raise HandOver
    text = dumps(convert(reply["result"], shape), indent="\n")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise HandOver from None  # lone surrogates: msgspec would refuse the reply
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0


# JSON without the json package (which imports re and enum). The C scanner behind
# json.loads and the escaper behind json.dumps(ensure_ascii=False) do the work.


class _ScanContext:
    """What ``_json.make_scanner`` reads from a ``json.JSONDecoder``: its defaults, except
    that NaN and Infinity are refused (msgspec refuses them too)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")


def loads(data: bytes) -> Any:
    """``json.loads(data)`` of one UTF-8 JSON text; ValueError (or StopIteration) if it is not."""
    from _json import make_scanner

    text = data.decode().strip(" \t\n\r")
    # typeshed types the context as the scanner itself; it is any object with these attributes
    value, end = make_scanner(_ScanContext())(text, 0)  # type: ignore[arg-type]
    if end != len(text):
        raise ValueError("extra data after the JSON value")
    return value


def dumps(value: Any, indent: str | None = None) -> str:
    """``json.dumps(value, ensure_ascii=False)``, or with ``indent="\\n"`` the layout of
    ``json.dumps(value, indent=2, ensure_ascii=False)``, for the JSON values of a reply.
    Floats are printed with ``repr``; :func:`convert` has made sure msgspec agrees."""
    from _json import encode_basestring

    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is str:
        return str(encode_basestring(value))
    if type(value) in (int, float):
        return repr(value)
    inner = None if indent is None else indent + "  "
    comma = ", " if inner is None else "," + inner
    if type(value) is list:
        if not value:
            return "[]"
        items = comma.join(dumps(item, inner) for item in value)
        return f"[{items}]" if inner is None else f"[{inner}{items}{indent}]"
    if type(value) is dict:
        if not value:
            return "{}"
        pairs = comma.join(
            f"{encode_basestring(key)}: {dumps(item, inner)}" for key, item in value.items()
        )
        return f"{{{pairs}}}" if inner is None else f"{{{inner}{pairs}{indent}}}"
    raise HandOver  # pragma: no cover - replies hold JSON values only


# The failures, in the words of mozart_cli.messages (imported only on the way out).


def timeout_text(method: str, path: str) -> str:
    """``str(RpcTimeout(method, TIMEOUT, path))``: the full client's account of a timeout."""
    return f"no reply to {method} within {TIMEOUT:g} s on {path}"


def _no_reply(method: str, path: str) -> int:
    from mozart_cli import messages

    return messages.show(messages.no_reply(timeout_text(method, path)))


def unreachable_reason(exc: BaseException) -> str:
    """``mozart_protocol._transport.not_running(path, exc).reason``."""
    fallback = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return REASONS.get(type(exc), str(fallback))


def _unreachable(path: str, exc: BaseException) -> int:
    from mozart_cli import messages

    return messages.show(messages.daemon_unreachable(path, unreachable_reason(exc)))


def connect(sock: socket, path: str, deadline: float) -> None:
    """Connect; while the daemon's backlog is full (EAGAIN) retry until ``deadline``."""
    sock.setblocking(False)
    delay = 0.001
    while True:
        try:
            sock.connect(path)
            return
        except BlockingIOError:
            if time.monotonic() + delay > deadline:
                raise TimeoutError from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def check_peer(sock: socket) -> None:
    """A daemon of another user (not root) is refused by the full client, in its words."""
    import _socket

    option = getattr(_socket, "SO_PEERCRED", None)
    if option is None:
        return
    raw = sock.getsockopt(_socket.SOL_SOCKET, option, 12)  # struct ucred: pid, uid, gid
    uid = int.from_bytes(raw[4:8], sys.byteorder, signed=True)
    if uid not in (os.getuid(), 0):
        raise HandOver


def exchange(sock: socket, request: bytes, deadline: float) -> dict[str, Any]:
    """Send ``request`` and return the reply to it (notifications and blank lines skipped)."""
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    sock.sendall(request)
    buffer = b""
    while True:
        end = buffer.find(b"\n")
        while end < 0:
            if len(buffer) > MAX_MESSAGE_SIZE:
                raise HandOver
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise HandOver  # closed before (or in the middle of) the reply
            buffer += chunk
            end = buffer.find(b"\n", len(buffer) - len(chunk))
        line, buffer = buffer[:end], buffer[end + 1 :]
        if len(line) > MAX_MESSAGE_SIZE:
            raise HandOver
        if not line.strip():
            continue
        try:
            message = loads(line)
        except (ValueError, StopIteration):
            raise HandOver from None
        if not isinstance(message, dict):
            raise HandOver
        kind = _message_kind(message)
        if kind == "reply":
            return message


def _message_kind(message: dict[str, Any]) -> str:
    """ "notification" or "reply"; anything the full client would not decode hands over."""
    ident = message.get("id", ...)
    if not (ident is ... or ident is None or type(ident) in (int, str)):
        raise HandOver
    if "method" in message and type(message["method"]) is not str:
        raise HandOver
    if "jsonrpc" in message and type(message["jsonrpc"]) is not str:
        raise HandOver
    if "error" in message:
        error_object(message["error"])
    if ident is ... and "method" in message:
        return "notification"
    if message.get("jsonrpc") != "2.0":
        raise HandOver
    return "reply"


def error_object(value: Any) -> tuple[int, str, Any]:
    if not isinstance(value, dict) or not set(value) <= {"code", "message", "data"}:
        raise HandOver
    code, message = value.get("code"), value.get("message")
    if type(code) is not int or type(message) is not str:
        raise HandOver
    return code, message, value.get("data")


def convert(value: Any, shape: tuple[Field, ...]) -> dict[str, Any]:
    """``value`` checked against ``shape`` and in its field order, as msgspec would print it."""
    if not isinstance(value, dict):
        raise HandOver
    result: dict[str, Any] = {}
    for name, kind, nullable, low, high, required in shape:
        if name not in value:
            if required:
                raise HandOver
            result[name] = None  # the default of every optional field (a test holds it)
            continue
        item = value[name]
        if item is None:
            if not nullable:
                raise HandOver
            result[name] = None
            continue
        check = CHECKS.get(kind)
        if check is not None:
            result[name] = check(item, low, high)
        elif type(item) is list:
            nested = NESTED[kind]
            result[name] = [convert(element, nested) for element in item]
        else:
            raise HandOver
    if len(value) > len(result) or not set(value) <= set(result):
        raise HandOver  # a field the schema does not have (forbid_unknown_fields)
    return result


def _int(value: Any, low: int | None, high: int | None) -> int:
    if type(value) is not int or not -(2**63) <= value < 2**64:
        raise HandOver
    if (low is not None and value < low) or (high is not None and value > high):
        raise HandOver
    return value


def _float(value: Any, low: int | None, high: int | None) -> float:
    if type(value) not in (int, float):
        raise HandOver
    number = float(value)
    # Where Python's repr and msgspec print a float alike (and NaN/inf fail here too).
    if not (number == 0.0 or 1e-4 <= abs(number) < 1e16):
        raise HandOver
    if (low is not None and number < low) or (high is not None and number > high):
        raise HandOver
    return number


def _str(value: Any, low: int | None, high: int | None) -> str:
    if type(value) is not str or (low is not None and len(value) < low):
        raise HandOver
    return value


def _state(states: tuple[str, ...]) -> Callable[[Any, int | None, int | None], str]:
    def check(value: Any, low: int | None, high: int | None) -> str:
        if type(value) is not str or value not in states:
            raise HandOver
        return str(value)

    return check


_DIGITS = frozenset("0123456789")


def _time(value: Any, low: int | None, high: int | None) -> str:
    """A timestamp exactly as msgspec prints a time-zone-aware datetime: seconds, then six
    digits of microseconds unless they are zero, then ``Z`` for UTC or ``+HH:MM``."""
    if type(value) is not str or len(value) not in (20, 25, 27, 32):
        raise HandOver
    shape = value[:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19]
    if value[4] + value[7] + value[10] + value[13] + value[16] != "--T::" or set(shape) - _DIGITS:
        raise HandOver
    rest = value[19:]
    if rest[:1] == ".":
        micro, rest = rest[1:7], rest[7:]
        if len(micro) != 6 or set(micro) - _DIGITS or micro == "000000":
            raise HandOver
    if rest != "Z":
        if (
            len(rest) != 6
            or rest[0] not in "+-"
            or rest[3] != ":"
            or rest[1:3] + rest[4:] == "0000"
        ):
            raise HandOver
        if set(rest[1:3] + rest[4:]) - _DIGITS or int(rest[1:3]) > 23 or int(rest[4:]) > 59:
            raise HandOver
    year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= days[month - 1]):
        raise HandOver
    if int(value[11:13]) > 23 or int(value[14:16]) > 59 or int(value[17:19]) > 59:
        raise HandOver
    return value


CHECKS: dict[str, Callable[[Any, int | None, int | None], Any]] = {
    "int": _int,
    "float": _float,
    "str": _str,
    "time": _time,
    "job_state": _state(JOB_STATES),
    "sheet_state": _state(SHEET_STATES),
}
