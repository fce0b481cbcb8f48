"""Backends: what runs a sheet's prompt. ``make_backend(score.backend)`` picks one."""

from __future__ import annotations

from mozart_protocol.score import (
    AnthropicApiBackend,
    Backend,
    ClaudeCliBackend,
    CommandBackend,
    OllamaBackend,
)

from mozart_daemon.engine.backends.base import BackendResult, ExecutionContext, SheetBackend
from mozart_daemon.engine.backends.claude_cli import ClaudeCliRunner
from mozart_daemon.engine.backends.command import CommandRunner
from mozart_daemon.engine.backends.http import AnthropicApiRunner, OllamaRunner


def make_backend(config: Backend) -> SheetBackend:
    if isinstance(config, CommandBackend):
        return CommandRunner(config)
    if isinstance(config, ClaudeCliBackend):
        return ClaudeCliRunner(config)
    if isinstance(config, AnthropicApiBackend):
        return AnthropicApiRunner(config)
    assert isinstance(config, OllamaBackend)
    return OllamaRunner(config)


def backend_key(config: Backend) -> str:
    """The rate-limit domain of a backend: jobs with the same key share limits.

    HTTP backends are keyed by their endpoint; the ``claude`` CLI by its executable;
    ``command`` backends share one domain.
    """
    if isinstance(config, AnthropicApiBackend | OllamaBackend):
        return f"{config.__struct_config__.tag}@{config.base_url}"
    if isinstance(config, ClaudeCliBackend):
        return f"claude_cli@{config.executable}"
    return "command"


__all__ = [
    "BackendResult",
    "ExecutionContext",
    "SheetBackend",
    "backend_key",
    "make_backend",
]
