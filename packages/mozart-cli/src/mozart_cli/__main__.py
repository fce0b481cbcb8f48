"""``python -m mozart_cli``."""

from mozart_cli.main import main

main()
