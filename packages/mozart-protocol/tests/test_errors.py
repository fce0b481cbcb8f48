"""The error hierarchy: one class per wire code, both ways, and the client-side errors."""

from __future__ import annotations

import pickle

import pytest
from mozart_protocol import errors
from mozart_protocol._generated.error_codes import ERRORS


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_every_code_round_trips_through_its_class(code: int) -> None:
    spec = ERRORS[code]
    cls = errors.error_class(code)
    assert cls.__name__ == spec.name
    assert getattr(errors, spec.name) is cls
    exc = errors.RpcError.from_wire(code, "it broke", {"k": 1})
    assert type(exc) is cls
    assert (exc.code, exc.message, exc.data) == (code, "it broke", {"k": 1})
    again = errors.RpcError.from_wire(**exc.to_wire())
    assert type(again) is cls and again.to_wire() == exc.to_wire()


def test_classes_and_codes_are_one_to_one() -> None:
    assert set(errors.ERROR_CLASSES) == set(ERRORS)
    assert len(set(errors.ERROR_CLASSES.values())) == len(ERRORS)


def test_subclass_defaults_to_the_schema_message() -> None:
    exc = errors.SystemUnderPressureError()
    assert exc.code == -32005
    assert exc.message == "System under high pressure — try again later."
    assert exc.to_wire() == {"code": -32005, "message": exc.message}
    assert isinstance(exc, errors.RpcError)


def test_data_is_kept() -> None:
    exc = errors.InvalidJobStateError(
        "cannot pause", {"job_id": "j", "state": "completed", "action": "pause"}
    )
    assert exc.to_wire()["data"]["action"] == "pause"
    assert "cannot pause" in str(exc) and "-32003" in str(exc)


def test_unknown_code_stays_a_plain_rpc_error() -> None:
    exc = errors.RpcError.from_wire(-32050, "from a newer daemon")
    assert type(exc) is errors.RpcError
    assert exc.code == -32050
    assert errors.error_class(-32050) is errors.RpcError


def test_constants_match_the_table() -> None:
    assert errors.JOB_NOT_FOUND == -32001
    assert errors.PARSE_ERROR == -32700
    assert errors.STATE_UNAVAILABLE == -32011


def test_daemon_not_running_names_the_socket() -> None:
    exc = errors.DaemonNotRunning("/tmp/x/mozartd.sock", "connection refused")
    assert "/tmp/x/mozartd.sock" in str(exc)
    assert exc.socket_path == "/tmp/x/mozartd.sock"
    assert not isinstance(exc, errors.RpcError)


def test_client_side_errors_are_not_rpc_errors() -> None:
    timeout = errors.RpcTimeout("job.status", 2.5, "/s.sock")
    assert "job.status" in str(timeout) and "2.5" in str(timeout)
    untrusted = errors.UntrustedDaemonError("/s.sock", 1001, 1000)
    assert isinstance(untrusted, errors.ProtocolError)
    assert "1001" in str(untrusted) and "/s.sock" in str(untrusted)
    for exc in (timeout, untrusted):
        assert isinstance(exc, errors.MozartError)
        assert not isinstance(exc, errors.RpcError)


def test_rpc_errors_survive_pickling_as_their_class() -> None:
    exc = errors.JobNotFoundError("no job 'x'", {"job_id": "x"})
    # Exceptions cross process boundaries in test runners and executors.
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is errors.JobNotFoundError
    assert copy.message == "no job 'x'" and copy.data == {"job_id": "x"}
    plain = pickle.loads(pickle.dumps(errors.RpcError(-32050, "newer", [1])))
    assert (type(plain), plain.code, plain.data) == (errors.RpcError, -32050, [1])
