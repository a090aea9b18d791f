"""Alembic environment: always run with a connection handed in by ``storage.migrate``."""

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.migrate import for_dialect

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `baton db upgrade`, which supplies a connection")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=for_dialect(connection),
)
with context.begin_transaction():
    context.run_migrations()
