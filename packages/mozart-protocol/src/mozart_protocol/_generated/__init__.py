# Generated from schema/rpc.schema.json by `nox -s codegen`.
# Do not edit: change the schema and regenerate. (package)
"""Code generated from schema/rpc.schema.json."""
