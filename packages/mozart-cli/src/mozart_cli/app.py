"""The ``mozart`` Typer app: command signatures only.

The ``mozart`` entry point (:mod:`mozart_cli.main`) imports this module only for what its
fast path does not serve. Start-up time matters (a CLI runs thousands of times), so this
module imports Typer and nothing else: each command's body lives in
``mozart_cli.commands.<name>`` and is imported inside the command function.
``mozart --help`` therefore never loads the score library (PyYAML, Jinja2), and
``status``/``list`` load only the protocol client and its models.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from mozart_cli import __version__, _plainparams

_plainparams.install()

app = typer.Typer(
    name="mozart",
    help="Run Mozart scores through the mozartd daemon, and watch and control their jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain Click help: rendering it with Rich triples the start-up time of `mozart --help`.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 ok, 1 failure, 2 usage or unreadable score, 3 job not found, "
    "4 wrong job state, 5 daemon busy, 6 permission denied, 7 timeout, 130 interrupted. "
    "See docs/cli.md.",
)


class JobStateChoice(StrEnum):
    queued = "queued"
    running = "running"
    paused = "paused"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


Socket = Annotated[
    str | None,
    typer.Option(
        "--socket",
        envvar="MOZART_SOCKET",
        show_envvar=True,
        metavar="PATH",
        help="The daemon's Unix socket (default /tmp/mozartd.sock).",
    ),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout, nothing else.")
]
JobId = Annotated[str, typer.Argument(metavar="JOB", help="The job id (the score's name).")]
Config = Annotated[str, typer.Argument(metavar="CONFIG", help="The score file (YAML).")]
WaitTimeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0,
        metavar="SECONDS",
        help="How long to wait for the daemon to confirm the new state.",
    ),
]
NoWait = Annotated[
    bool, typer.Option("--no-wait", help="Return once the daemon accepted the request.")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mozart {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Run Mozart scores through the mozartd daemon, and watch and control their jobs."""


@app.command()
def run(
    config: Config,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", "-n", help="Validate and print the plan; needs no daemon, runs nothing."
        ),
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start over, discarding the job's earlier progress.")
    ] = False,
    start_sheet: Annotated[
        int | None,
        typer.Option("--start-sheet", min=1, metavar="N", help="Begin at sheet N."),
    ] = None,
    priority: Annotated[
        int | None,
        typer.Option(
            "--priority", min=0, max=9, metavar="0-9", help="Override the score's priority."
        ),
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", "-w", metavar="DIR", help="Override the score's workspace."),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Show live progress until the job ends; exit 0 only if it completed.",
        ),
    ] = False,
    escalation: Annotated[
        bool,
        typer.Option("--escalation", help="Not available through the daemon (explains why)."),
    ] = False,
    json_output: Json = False,
    socket: Socket = None,
) -> None:
    """Submit a score to the daemon as a job (or, with --dry-run, show its plan)."""
    from mozart_cli.commands import run as command

    raise typer.Exit(
        command.main(
            config,
            dry_run=dry_run,
            fresh=fresh,
            start_sheet=start_sheet,
            priority=priority,
            workspace=workspace,
            follow=follow,
            escalation=escalation,
            json_output=json_output,
            socket=socket,
        )
    )


@app.command()
def validate(config: Config, json_output: Json = False) -> None:
    """Check a score without running it: every finding with its location. Needs no daemon."""
    from mozart_cli.commands import validate as command

    raise typer.Exit(command.main(config, json_output=json_output))


@app.command()
def status(
    job: Annotated[
        str | None, typer.Argument(metavar="[JOB]", help="A job id; omit for a summary.")
    ] = None,
    watch: Annotated[
        bool,
        typer.Option("--watch", "-w", help="Redraw a live progress bar until the job ends."),
    ] = False,
    interval: Annotated[
        float,
        typer.Option("--interval", min=0.05, metavar="SECONDS", help="Refresh period of --watch."),
    ] = 1.0,
    json_output: Json = False,
    socket: Socket = None,
) -> None:
    """Show one job and its sheets, or the daemon and its active jobs."""
    from mozart_cli.commands import status as command

    raise typer.Exit(
        command.main(job, watch=watch, interval=interval, json_output=json_output, socket=socket)
    )


@app.command("list")
def list_jobs(
    all_jobs: Annotated[bool, typer.Option("--all", "-a", help="Include finished jobs.")] = False,
    state: Annotated[
        JobStateChoice | None,
        typer.Option("--status", "-s", case_sensitive=False, help="Only jobs in this state."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="At most this many jobs.")
    ] = 50,
    after: Annotated[
        str | None,
        typer.Option(
            "--after", metavar="CURSOR", help="The next page: next_cursor of the previous one."
        ),
    ] = None,
    json_output: Json = False,
    socket: Socket = None,
) -> None:
    """List jobs: active ones (queued, running, paused) unless --all or --status."""
    from mozart_cli.commands import list_jobs as command

    raise typer.Exit(
        command.main(
            all_jobs=all_jobs,
            state=state.value if state is not None else None,
            limit=limit,
            after=after,
            json_output=json_output,
            socket=socket,
        )
    )


def _control_command(action: str, doc: str) -> None:
    """``mozart pause|resume|cancel JOB``: one declaration for the three (control.main)."""

    def command(
        job: JobId,
        timeout: WaitTimeout = 60.0,
        no_wait: NoWait = False,
        json_output: Json = False,
        socket: Socket = None,
    ) -> None:
        from mozart_cli.commands import control

        wait = not no_wait
        code = control.main(
            action, job, timeout=timeout, wait=wait, json_output=json_output, socket=socket
        )
        raise typer.Exit(code)

    command.__doc__ = doc
    app.command(name=action)(command)


_control_command(
    "pause", "Pause a running job (it stops at a safe point) and wait until it is paused."
)
_control_command("resume", "Resume a paused job and wait until it runs again.")
_control_command(
    "cancel", "Cancel a job (its running sheets are stopped) and wait until it is cancelled."
)


@app.command()
def logs(
    job: JobId,
    sheet: Annotated[
        int | None, typer.Option("--sheet", min=1, metavar="N", help="Only sheet N.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming new lines until the job ends.")
    ] = False,
    tail: Annotated[
        int | None,
        typer.Option("--tail", min=0, metavar="N", help="Start with the last N lines of each log."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (job.log notifications).")
    ] = False,
    socket: Socket = None,
) -> None:
    """Print the output of a job's sheets, streamed by the daemon."""
    from mozart_cli.commands import logs as command

    raise typer.Exit(
        command.main(
            job, sheet=sheet, follow=follow, tail=tail, json_output=json_output, socket=socket
        )
    )


@app.command()
def errors(job: JobId, json_output: Json = False, socket: Socket = None) -> None:
    """Show why a job's sheets failed: state, attempts, exit code and error of each."""
    from mozart_cli.commands import errors as command

    raise typer.Exit(command.main(job, json_output=json_output, socket=socket))


@app.command()
def history(
    job: JobId,
    sheet: Annotated[
        int | None, typer.Option("--sheet", min=1, metavar="N", help="Only this sheet.")
    ] = None,
    json_output: Json = False,
    socket: Socket = None,
) -> None:
    """Show every attempt of a job: kind, outcome, exit code, duration and error."""
    from mozart_cli.commands import history as command

    raise typer.Exit(command.main(job, sheet=sheet, json_output=json_output, socket=socket))


class PatternKindChoice(StrEnum):
    validation = "validation"
    error = "error"


@app.command()
def patterns(
    kind: Annotated[
        PatternKindChoice | None,
        typer.Option("--kind", case_sensitive=False, help="Only patterns of this kind."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="At most this many patterns.")
    ] = 100,
    json_output: Json = False,
    socket: Socket = None,
) -> None:
    """Show what the daemon learned from failed attempts: counts, fixes, effectiveness."""
    from mozart_cli.commands import patterns as command

    raise typer.Exit(
        command.main(
            kind=kind.value if kind is not None else None,
            limit=limit,
            json_output=json_output,
            socket=socket,
        )
    )


@app.command()
def init(
    path: Annotated[
        str, typer.Argument(metavar="[PATH]", help="Where to write the score.")
    ] = "score.yaml",
    name: Annotated[
        str | None, typer.Option("--name", help="The job name (default: from the file name).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter score that runs on the command backend (no API key needed)."""
    from mozart_cli.commands import init as command

    raise typer.Exit(command.main(path, name=name, force=force))
