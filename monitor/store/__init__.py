"""The database: tables, engine and migrations, and the query layer over them."""

from monitor.store.engine import Store, open_store, schema_revisions, upgrade_schema

__all__ = ["Store", "open_store", "schema_revisions", "upgrade_schema"]
