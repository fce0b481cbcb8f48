"""One session per concern. Run through the uv workspace: `uv run nox -s NAME`.

Sessions run in the workspace's own environment (`uv sync` installed it), so they
start in milliseconds and test exactly what a developer has.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typecheck", "codegen-check", "tests"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PACKAGES = ["mozart-protocol", "mozart-daemon", "mozart-cli"]
SOURCES = ["packages", "tests", "scripts", "bench", "noxfile.py"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite: unit tests of each package, contract and e2e tests."""
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over all three packages."""
    session.run(
        "mypy",
        "--strict",
        "packages/mozart-protocol/src",
        "packages/mozart-daemon/src",
        "packages/mozart-cli/src",
    )


@nox.session
def codegen(session: nox.Session) -> None:
    """Regenerate the protocol models, method/error tables and docs/protocol.md from schema/."""
    session.run("python", "scripts/codegen.py", "write")


@nox.session(name="codegen-check")
def codegen_check(session: nox.Session) -> None:
    """Fail if anything generated from schema/ differs from what is committed."""
    session.run("python", "scripts/codegen.py", "check")


@nox.session
def pins(session: nox.Session) -> None:
    """Build the three wheels and install them into a clean environment: the pins must hold."""
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        session.run("uv", "build", "--all-packages", "--wheel", "--out-dir", str(dist), "-q")
        venv = Path(tmp) / "venv"
        session.run("uv", "venv", "-q", "--python", shutil.which("python") or "python", str(venv))
        # Name the target interpreter: under `python3 -m uv`, uv otherwise installs into the
        # interpreter that ran it (it sets UV_INTERNAL__PARENT_INTERPRETER for its children).
        target = ("--python", str(venv / "bin" / "python"))
        wheels = sorted(str(p) for p in dist.glob("*.whl"))
        session.run(
            "uv", "pip", "install", "-q", *target, "--find-links", str(dist), "mozart-cli[daemon]"
        )
        session.run("uv", "pip", "check", *target)
        session.log(f"installed and checked: {', '.join(Path(w).name for w in wheels)}")
        session.run(str(venv / "bin" / "mozart"), "--version", external=True)
        session.run(str(venv / "bin" / "mozartd"), "--help", external=True, silent=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (not tests): a table of ratios against references measured in the same run."""
    session.run("python", "-m", "bench", *session.posargs)


@nox.session
def reliability(session: nox.Session) -> None:
    """The large setting of tests/reliability (crash rounds, hostile input, load)."""
    env = {"MOZART_RELIABILITY": "large"}
    session.run("pytest", "tests/reliability", "-p", "no:randomly", *session.posargs, env=env)
