"""``python -m mozart_daemon`` is ``mozartd``."""

from mozart_daemon.cli import main

main()
