"""anthropic_api and ollama against a fake model server on 127.0.0.1; the key never leaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from enginekit import Recorder, Runner, write_score
from model_server import ModelServer
from mozart_daemon.engine import ErrorClass, InMemoryCheckpoint, SheetState

API_KEY = "sk-ant-test-SECRET-4f9a1c"


@pytest.fixture
def server() -> Iterator[ModelServer]:
    fake = ModelServer(api_key=API_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def anthropic_score(server: ModelServer, template: str, **backend: Any) -> dict[str, Any]:
    return {
        "backend": {
            "type": "anthropic_api",
            "base_url": server.base_url,
            "api_key_env": "MOZART_TEST_KEY",
            "model": "claude-test",
            "max_tokens": 100,
            "temperature": 0.2,
            "timeout_seconds": 10,
            **backend,
        },
        "prompt": {"template": template},
        "validations": [
            {
                "type": "content_contains",
                "path": "logs/sheet-{sheet_num:02d}.stdout.log",
                "pattern": "ANSWER to: Say hi",
            }
        ],
    }


def assert_key_absent(tmp_path: Path, checkpoint: InMemoryCheckpoint, recorder: Recorder) -> None:
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert API_KEY not in path.read_text(errors="replace"), path
    for sheet in checkpoint.sheets.values():
        for attempt in sheet.attempts:
            assert API_KEY not in repr(msgspec.structs.asdict(attempt))
        assert API_KEY not in repr(sheet.result)
    assert API_KEY not in repr(recorder.events)


async def test_anthropic_reply_is_logged_and_validated(
    tmp_path: Path,
    run: Runner,
    checkpoint: InMemoryCheckpoint,
    recorder: Recorder,
    server: ModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOZART_TEST_KEY", API_KEY)
    result = await run(write_score(tmp_path, anthropic_score(server, "Say hi")))
    assert result.status == SheetState.COMPLETED
    (request,) = server.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["model"] == "claude-test"
    assert request.body["max_tokens"] == 100 and request.body["temperature"] == 0.2
    assert request.body["messages"][0]["content"].startswith("Say hi")
    record = checkpoint.sheet("test-job", 1).attempts[0]
    assert (record.input_tokens, record.output_tokens) == (11, 5)
    assert_key_absent(tmp_path, checkpoint, recorder)


async def test_wrong_key_is_fatal_and_not_leaked(
    tmp_path: Path,
    run: Runner,
    checkpoint: InMemoryCheckpoint,
    recorder: Recorder,
    server: ModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOZART_TEST_KEY", API_KEY + "-wrong")
    result = await run(write_score(tmp_path, anthropic_score(server, "Say hi")))
    assert result.status == SheetState.FAILED
    assert result.error_class == ErrorClass.FATAL and result.attempts == 1
    assert "401" in (result.error or "") and "authentication" in (result.error or "")
    assert API_KEY not in (result.error or "")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert API_KEY + "-wrong" not in path.read_text(errors="replace")


async def test_missing_key_is_fatal_and_names_the_variable(
    tmp_path: Path, run: Runner, server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOZART_TEST_KEY", raising=False)
    result = await run(write_score(tmp_path, anthropic_score(server, "Say hi")))
    assert result.status == SheetState.FAILED
    assert result.error_class == ErrorClass.FATAL and result.attempts == 1
    assert "MOZART_TEST_KEY" in (result.error or "")
    assert server.requests == []


async def test_http_429_is_a_rate_limit_with_retry_after(
    tmp_path: Path,
    run: Runner,
    checkpoint: InMemoryCheckpoint,
    recorder: Recorder,
    server: ModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOZART_TEST_KEY", API_KEY)
    score = anthropic_score(server, "Say hi\nFAKE_MODE=rate_limit")
    score["rate_limit"] = {"max_waits": 1}
    result = await run(write_score(tmp_path, score))
    assert result.status == SheetState.FAILED
    assert result.error_class == ErrorClass.RATE_LIMIT
    assert recorder.rate_limits == [(f"anthropic_api@{server.base_url}", 7.0)]
    assert [a.outcome for a in checkpoint.sheet("test-job", 1).attempts] == [
        "rate_limited",
        "rate_limited",
    ]
    assert_key_absent(tmp_path, checkpoint, recorder)


async def test_a_key_echoed_by_the_server_is_redacted(
    tmp_path: Path,
    run: Runner,
    checkpoint: InMemoryCheckpoint,
    recorder: Recorder,
    server: ModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOZART_TEST_KEY", API_KEY)
    score = anthropic_score(server, "Say hi\nFAKE_MODE=echo_key")
    score["retry"] = {"max_retries": 0}
    result = await run(write_score(tmp_path, score))
    assert result.status == SheetState.FAILED
    assert "HTTP 400" in (result.error or "") and "[redacted]" in (result.error or "")
    assert_key_absent(tmp_path, checkpoint, recorder)


async def test_server_error_is_retried(
    tmp_path: Path,
    run: Runner,
    checkpoint: InMemoryCheckpoint,
    recorder: Recorder,
    server: ModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOZART_TEST_KEY", API_KEY)
    score = anthropic_score(server, "Say hi\nFAKE_MODE=server_error")
    score["retry"] = {"max_retries": 2}
    result = await run(write_score(tmp_path, score))
    assert result.status == SheetState.FAILED and result.attempts == 3
    assert "HTTP 500" in (result.error or "")
    assert "HTTP 500" in (tmp_path / "ws/logs/sheet-01.stderr.log").read_text()


async def test_http_timeout(
    tmp_path: Path, run: Runner, server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOZART_TEST_KEY", API_KEY)
    score = anthropic_score(server, "Say hi\nFAKE_MODE=slow", timeout_seconds=0.3)
    score["retry"] = {"max_retries": 0}
    result = await run(write_score(tmp_path, score))
    assert result.error_class == ErrorClass.TIMEOUT


async def test_unreachable_server_is_a_backend_error(
    tmp_path: Path, run: Runner, server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOZART_TEST_KEY", API_KEY)
    base_url = server.base_url
    server.stop()
    score = anthropic_score(server, "Say hi", base_url=base_url)
    score["retry"] = {"max_retries": 0}
    result = await run(write_score(tmp_path, score))
    assert result.error_class == ErrorClass.BACKEND
    assert "ConnectError" in (result.error or "")


async def test_ollama_generate(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint, server: ModelServer
) -> None:
    score = {
        "backend": {"type": "ollama", "base_url": server.base_url, "model": "tiny"},
        "prompt": {"template": "Count to {{ sheet_num }}"},
        "validations": [
            {
                "type": "content_contains",
                "path": "logs/sheet-01.stdout.log",
                "pattern": "OLLAMA says: Count to 1",
            }
        ],
    }
    result = await run(write_score(tmp_path, score))
    assert result.status == SheetState.COMPLETED
    (request,) = server.requests
    assert request.path == "/api/generate"
    assert request.body == {"model": "tiny", "prompt": request.body["prompt"], "stream": False}
    record = checkpoint.sheet("test-job", 1).attempts[0]
    assert (record.input_tokens, record.output_tokens) == (9, 4)


async def test_ollama_unknown_model(tmp_path: Path, run: Runner, server: ModelServer) -> None:
    score = {
        "backend": {"type": "ollama", "base_url": server.base_url, "model": "nope"},
        "prompt": {"template": "x"},
        "retry": {"max_retries": 0},
    }
    result = await run(write_score(tmp_path, score))
    assert result.status == SheetState.FAILED
    assert "model 'nope' not found" in (result.error or "")
