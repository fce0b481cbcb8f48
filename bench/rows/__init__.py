"""The rows of issue 7's table, one module each; every ``run(ctx)`` returns its Rows."""
