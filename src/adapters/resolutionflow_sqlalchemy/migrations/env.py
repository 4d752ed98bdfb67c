"""Alembic's entry point for the shipped migrations.

Two ways in:

- the package API (`resolutionflow_sqlalchemy.migrations.upgrade` …) hands over a
  connection, already inside its transaction, in ``config.attributes["connection"]``;
- the ``alembic`` CLI gives a URL (``-x url=…`` or ``sqlalchemy.url``): this module opens
  the adapter's async engine itself and runs the migrations through ``run_sync``, as
  Alembic's asyncio cookbook does. ``--sql`` (offline) prints the DDL; it works for
  PostgreSQL, not SQLite, whose batch rebuilds need to read the live table.

Either way the migrations compare against ``tables.metadata`` (for ``--autogenerate``),
with types compared, and use batch mode on SQLite, which cannot ALTER most things in place.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from resolutionflow_sqlalchemy.migrations.connection import migration_connection
from resolutionflow_sqlalchemy.search_schema import include_object
from resolutionflow_sqlalchemy.tables import metadata


def run_migrations(connection: sa.Connection) -> None:
    """Run the requested revisions on ``connection``, in its transaction if it has one."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    async with migration_connection(url) as connection:
        await connection.run_sync(run_migrations)


def run_offline(url: str) -> None:
    """Print the SQL instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    """The URL the CLI was given: ``-x url=…`` first, then ``sqlalchemy.url``."""
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError(
            "no database URL: pass `-x url=sqlite:///sessions.db` or set sqlalchemy.url"
        )
    return url


def main() -> None:
    config = context.config
    if config.config_file_name is not None and config.file_config.has_section("loggers"):
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    connection = config.attributes.get("connection")
    if context.is_offline_mode():
        run_offline(database_url())
    elif isinstance(connection, sa.Connection):
        run_migrations(connection)
    else:
        asyncio.run(run_from_url(database_url()))


main()
