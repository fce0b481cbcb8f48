"""One module per command body, imported only by the command that runs it."""
