"""The ``mozart`` entry point (``[project.scripts]``).

``mozart status JOB --json`` and ``mozart list --json`` are served by
:mod:`mozart_cli.fastpath` with the standard library alone; everything else (and anything the
fast path cannot prove it prints exactly as the full command) runs the Typer app of
:mod:`mozart_cli.app`. This module imports nothing at start-up: the interpreter's own.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import typer


def main() -> None:
    from mozart_cli import fastpath

    code = fastpath.serve(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    from mozart_cli.app import app

    app()


def __getattr__(name: str) -> typer.Typer:
    """``mozart_cli.main.app``, the Typer app, imported on first use (as it used to be)."""
    if name == "app":
        from mozart_cli.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
