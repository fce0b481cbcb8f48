#!/usr/bin/env bash
# Install Mozart from this clone into .venv (the daemon guide's setup.sh).
#
#   ./setup.sh                  the mozart CLI only (it talks to a daemon elsewhere)
#   ./setup.sh --daemon         the CLI and mozartd (psutil, SQLite store, engine)
#   ./setup.sh --dev --daemon   everything, plus the developer tools (nox, pytest, ruff, mypy)
#
# Needs Python 3.11 and pip; installs uv with pip when it is missing. uv never downloads an
# interpreter here (pyproject.toml sets python-downloads = "never").
set -euo pipefail

daemon=0
dev=0
for arg in "$@"; do
    case "$arg" in
        --daemon) daemon=1 ;;
        --dev) dev=1 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option '$arg' (expected --daemon, --dev or --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")"
if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi

args=(sync --compile-bytecode)
if [ "$dev" = 1 ]; then
    # The workspace with its dev group: all three packages, editable, and the tools.
    [ "$daemon" = 1 ] || echo "setup.sh: --dev installs the daemon too (the tests need it)" >&2
else
    args+=(--no-dev --package mozart-cli)
    [ "$daemon" = 1 ] && args+=(--extra daemon)
fi
uv "${args[@]}"

echo "Installed into $(pwd)/.venv:"
uv run --no-sync mozart --version
if [ "$daemon" = 1 ] || [ "$dev" = 1 ]; then
    echo "Start the daemon with: uv run mozartd start"
else
    echo "The daemon is not installed here (add --daemon); set MOZART_SOCKET to reach one."
fi
