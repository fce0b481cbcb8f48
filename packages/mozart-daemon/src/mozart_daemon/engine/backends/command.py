"""``type: command``: any program, given the prompt on stdin, in a file, or as an argument."""

from __future__ import annotations

from mozart_protocol.score import CommandBackend

from mozart_daemon.engine.backends.base import (
    BackendResult,
    ExecutionContext,
    child_env_over_base,
    environ_snapshot,
    process_result,
)
from mozart_daemon.engine.errors import ErrorClass
from mozart_daemon.engine.process import run_process

SHELL = "/bin/sh"


class CommandRunner:
    writes_files = True  # context.files (the prompt file): run_process writes them first

    def __init__(self, config: CommandBackend) -> None:
        self.config = config

    def argv(self, prompt: str) -> list[str]:
        command = self.config.command
        via_arg = self.config.prompt_via == "arg"
        if isinstance(command, str):
            # With `arg`, the prompt is the script's $1.
            return [SHELL, "-c", command, "sh", prompt] if via_arg else [SHELL, "-c", command]
        return [*command, prompt] if via_arg else list(command)

    async def execute(
        self, prompt: str, context: ExecutionContext, timeout_seconds: float
    ) -> BackendResult:
        cfg = self.config
        cwd = context.resolve(cfg.working_directory) if cfg.working_directory else context.workspace
        run = await run_process(
            self.argv(prompt),
            cwd=cwd,
            env=child_env_over_base(cfg.env, context),
            env_base=environ_snapshot(),
            stdout=context.stdout,
            stderr=context.stderr,
            timeout_seconds=timeout_seconds,
            stdin_data=prompt.encode() if cfg.prompt_via == "stdin" else None,
            grace_seconds=context.grace_seconds,
            files=context.files,
        )
        if (
            isinstance(cfg.command, str)
            and run.exit_code == 127
            and "not found" in context.stderr.tail
        ):
            # The shell could not find the program: no retry will find it either.
            last = context.stderr.tail.strip().splitlines()[-1]
            return process_result(run, context, error_class=ErrorClass.FATAL, error=last)
        return process_result(run, context)
