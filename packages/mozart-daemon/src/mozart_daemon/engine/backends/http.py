"""``type: anthropic_api`` and ``type: ollama``: one HTTP request per attempt (httpx).

The reply text is written to the sheet's stdout log; HTTP errors go to its stderr log. The
API key is read from the environment variable the score names, sent only in its header, and
never written to a log, a result or an error message.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
from mozart_protocol.score import AnthropicApiBackend, OllamaBackend

from mozart_daemon.engine.backends.base import BackendResult, ExecutionContext
from mozart_daemon.engine.errors import BackendStartError, ErrorClass

ANTHROPIC_VERSION = "2023-06-01"


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_detail(response: httpx.Response) -> str:
    """A short description of an error reply: its ``error.message`` or its first line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
    return response.text.strip().splitlines()[0][:500] if response.text.strip() else ""


class HttpRunner:
    """Shared by both HTTP backends: the request, the timeout, logging, error mapping."""

    def __init__(self, base_url: str, env: dict[str, str]) -> None:
        self.base_url = base_url.rstrip("/")
        self.env = env

    def _env(self, name: str) -> str | None:
        return self.env.get(name) or os.environ.get(name) or None

    async def post(
        self,
        path: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        context: ExecutionContext,
        timeout_seconds: float,
        secret: str | None = None,
    ) -> tuple[BackendResult, dict[str, Any] | None]:
        """POST ``payload``; returns a result (errors filled in) and the JSON body on 2xx.

        ``secret`` (the API key) is blanked out of any message, should a server echo it.
        """
        started = time.monotonic()

        def redact(text: str) -> str:
            return text.replace(secret, "[redacted]") if secret else text

        url = f"{self.base_url}{path}"
        context.stderr.header(f"POST {url}")

        def result(**fields: Any) -> BackendResult:
            return BackendResult(
                duration_seconds=time.monotonic() - started,
                stdout_tail=context.stdout.tail,
                stderr_tail=context.stderr.tail,
                **fields,
            )

        try:
            async with asyncio.timeout(timeout_seconds):
                async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds)) as client:
                    response = await client.post(url, json=payload, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            context.stderr.write_text("request timed out\n")
            return result(
                exit_code=None, timed_out=True, error_class=ErrorClass.TIMEOUT, error="timed out"
            ), None
        except httpx.HTTPError as exc:
            message = redact(f"request to {url} failed: {type(exc).__name__}: {exc}")
            context.stderr.write_text(message + "\n")
            return result(exit_code=1, error_class=ErrorClass.BACKEND, error=message), None
        if response.status_code >= 400:
            detail = redact(_error_detail(response))
            message = f"HTTP {response.status_code} from {url}" + (f": {detail}" if detail else "")
            retry_after = response.headers.get("retry-after")
            if retry_after:
                message += f" (retry after {retry_after} seconds)"
            context.stderr.write_text(message + "\n")
            error_class = ErrorClass.BACKEND
            if response.status_code in (401, 403):
                error_class = ErrorClass.FATAL
                message = f"authentication failed: {message}"
            return result(
                exit_code=1,
                error_class=error_class,
                error=message,
                rate_limited=response.status_code == 429,
            ), None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            message = f"unreadable reply from {url} (not a JSON object)"
            context.stderr.write_text(message + "\n")
            return result(exit_code=1, error_class=ErrorClass.BACKEND, error=message), None
        return result(exit_code=0), body


class AnthropicApiRunner:
    def __init__(self, config: AnthropicApiBackend) -> None:
        self.config = config
        self.http = HttpRunner(config.base_url, config.env)

    async def execute(
        self, prompt: str, context: ExecutionContext, timeout_seconds: float
    ) -> BackendResult:
        cfg = self.config
        key = self.http._env(cfg.api_key_env)
        if key is None:
            raise BackendStartError(
                f"the API key variable `{cfg.api_key_env}` is not set in the daemon's "
                "environment (or in backend.env)"
            )
        headers = {
            "x-api-key": key,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
        }
        payload: dict[str, Any] = {
            "model": cfg.model,
            "max_tokens": cfg.max_tokens,
            "temperature": cfg.temperature,
            "messages": [{"role": "user", "content": prompt}],
        }
        result, body = await self.http.post(
            "/v1/messages", payload, headers, context, timeout_seconds, secret=key
        )
        if body is None:
            return result
        blocks = body.get("content")
        text = "".join(
            str(b.get("text", ""))
            for b in (blocks if isinstance(blocks, list) else [])
            if isinstance(b, dict) and b.get("type") == "text"
        )
        context.stdout.write_text(text)
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        assert isinstance(usage, dict)
        return BackendResult(
            exit_code=0,
            duration_seconds=result.duration_seconds,
            stdout_tail=context.stdout.tail,
            stderr_tail=context.stderr.tail,
            output_text=text,
            input_tokens=_int(usage.get("input_tokens")),
            output_tokens=_int(usage.get("output_tokens")),
        )


class OllamaRunner:
    def __init__(self, config: OllamaBackend) -> None:
        self.config = config
        self.http = HttpRunner(config.base_url, config.env)

    async def execute(
        self, prompt: str, context: ExecutionContext, timeout_seconds: float
    ) -> BackendResult:
        payload = {"model": self.config.model, "prompt": prompt, "stream": False}
        result, body = await self.http.post("/api/generate", payload, {}, context, timeout_seconds)
        if body is None:
            return result
        text = body.get("response")
        text = text if isinstance(text, str) else ""
        context.stdout.write_text(text)
        error = body.get("error")
        return BackendResult(
            exit_code=0 if not error else 1,
            duration_seconds=result.duration_seconds,
            stdout_tail=context.stdout.tail,
            stderr_tail=context.stderr.tail,
            output_text=text,
            input_tokens=_int(body.get("prompt_eval_count")),
            output_tokens=_int(body.get("eval_count")),
            error_class=ErrorClass.BACKEND if error else None,
            error=f"ollama: {error}" if error else None,
        )
