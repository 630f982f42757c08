"""Alembic environment: the URL comes from the caller (cream.storage.db), never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from cream.storage.models import Base

config = context.config
url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    if not url:
        raise RuntimeError("no database URL: cream.storage.db passes it as config.attributes['url']")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            if conn.dialect.name == "postgresql":  # two migrators take turns; the second finds it done
                conn.execute(text("SELECT pg_advisory_xact_lock(8231647)"))
            context.run_migrations()
    engine.dispose()


run()
