"""``type: claude_cli``: the ``claude`` CLI, non-interactive (``claude -p <prompt>``).

stdin is /dev/null (the CLI would otherwise wait for input), and ``CLAUDECODE`` is removed
from the child's environment so a daemon started from inside Claude Code does not make the
child think it is nested. A prompt the argument vector cannot carry (over
``MAX_PROMPT_ARG_BYTES``: Linux caps one argument at 128 KiB; or starting with ``-``, which the
CLI's option parser would take for an option) goes on stdin instead: ``claude -p`` without a
prompt argument reads it from there. With ``--output-format json`` (or ``stream-json``) the final
``{"type": "result", ...}`` object gives the reply text, token usage, cost and ``is_error``.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import msgspec
from mozart_protocol.score import ClaudeCliBackend

from mozart_daemon.engine.backends.base import (
    BackendResult,
    ExecutionContext,
    child_env,
    process_result,
)
from mozart_daemon.engine.errors import BackendStartError, ErrorClass, looks_like_auth_failure
from mozart_daemon.engine.process import run_process

EMPTY_MCP_CONFIG = '{"mcpServers":{}}'
# Linux's MAX_ARG_STRLEN is 128 KiB per argument; stay clear of it.
MAX_PROMPT_ARG_BYTES = 100_000


def prompt_goes_on_stdin(prompt: str) -> bool:
    return prompt.startswith("-") or len(prompt.encode("utf-8")) > MAX_PROMPT_ARG_BYTES


def parse_result_object(stdout: str) -> dict[str, Any] | None:
    """The last ``{"type": "result"}`` object of the output (json or stream-json)."""
    text = stdout.strip()
    candidates = [text, *reversed(text.splitlines())]
    for candidate in candidates:
        candidate = candidate.strip()
        if not candidate.startswith("{"):
            continue
        try:
            obj = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("type") == "result":
            return obj
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ClaudeCliRunner:
    def __init__(self, config: ClaudeCliBackend) -> None:
        self.config = config

    def argv(self, prompt: str, context: ExecutionContext) -> list[str]:
        cfg = self.config
        argv = [cfg.executable, "-p"]
        if not prompt_goes_on_stdin(prompt):
            argv.append(prompt)
        if cfg.skip_permissions:
            argv.append("--dangerously-skip-permissions")
        argv += ["--output-format", cfg.output_format]
        if cfg.output_format == "stream-json":
            argv.append("--verbose")  # the CLI requires it for stream-json with -p
        if cfg.disable_mcp:
            argv += ["--strict-mcp-config", "--mcp-config", EMPTY_MCP_CONFIG]
        if cfg.cli_model:
            argv += ["--model", cfg.cli_model]
        if cfg.allowed_tools:
            argv += ["--allowedTools", ",".join(cfg.allowed_tools)]
        if cfg.system_prompt_file:
            path = context.resolve(cfg.system_prompt_file)
            try:
                system_prompt = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise BackendStartError(
                    f"cannot read system_prompt_file `{path}`: {exc.strerror or exc}"
                ) from None
            if len(system_prompt.encode("utf-8")) > MAX_PROMPT_ARG_BYTES:
                raise BackendStartError(
                    f"system_prompt_file `{path}` is larger than {MAX_PROMPT_ARG_BYTES} bytes: "
                    "the claude CLI takes it as one argument, which Linux limits to 128 KiB"
                )
            argv += ["--append-system-prompt", system_prompt]
        argv += cfg.cli_extra_args
        return argv

    async def execute(
        self, prompt: str, context: ExecutionContext, timeout_seconds: float
    ) -> BackendResult:
        cfg = self.config
        env = child_env(cfg.env, context)
        env.pop("CLAUDECODE", None)
        if shutil.which(cfg.executable, path=env.get("PATH")) is None:
            raise BackendStartError(
                f"cannot start `{cfg.executable}`: executable not found on PATH "
                "(install the Claude CLI or set backend.executable)"
            )
        cwd = context.resolve(cfg.working_directory) if cfg.working_directory else context.workspace
        parse = cfg.output_format != "text"
        run = await run_process(
            self.argv(prompt, context),
            cwd=cwd,
            env=env,
            stdout=context.stdout,
            stderr=context.stderr,
            timeout_seconds=timeout_seconds,
            stdin_data=prompt.encode("utf-8") if prompt_goes_on_stdin(prompt) else None,
            grace_seconds=context.grace_seconds,
        )
        result = process_result(run, context, output_text=context.stdout.text)
        obj = parse_result_object(context.stdout.text) if parse else None
        if obj is not None:
            result = self._with_result_object(result, obj)
        elif parse and not run.timed_out and run.exit_code == 0:
            result = msgspec.structs.replace(
                result,
                error_class=ErrorClass.BACKEND,
                error="claude printed no JSON result object",
            )
        if result.error_class is not None and not run.timed_out:
            text = f"{result.error or ''}\n{result.output_text}\n{result.stderr_tail}"
            if looks_like_auth_failure(text):
                result = msgspec.structs.replace(
                    result,
                    error_class=ErrorClass.FATAL,
                    error=f"claude authentication failed: {_first_line(result.error, text)}",
                )
        return result

    @staticmethod
    def _with_result_object(result: BackendResult, obj: dict[str, Any]) -> BackendResult:
        usage = obj.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        parts = [
            _int(usage.get(k))
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        ]
        known = [p for p in parts if p is not None]
        cost = obj.get("total_cost_usd")
        text = obj.get("result")
        text = text if isinstance(text, str) else ""
        error_class, error = result.error_class, result.error
        if obj.get("is_error") is True or obj.get("subtype") not in (None, "success"):
            error_class = ErrorClass.BACKEND
            error = f"claude reported an error: {_first_line(text, str(obj.get('subtype')))}"
        return msgspec.structs.replace(
            result,
            output_text=text,
            input_tokens=sum(known) if known else None,
            output_tokens=_int(usage.get("output_tokens")),
            cost_usd=float(cost) if isinstance(cost, int | float) else None,
            error_class=error_class,
            error=error,
        )


def _first_line(preferred: str | None, fallback: str) -> str:
    for text in (preferred or "", fallback):
        for line in text.strip().splitlines():
            if line.strip():
                return line.strip()[:500]
    return "unknown error"
