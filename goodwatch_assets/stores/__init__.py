"""The stores: the serving PostgreSQL database and the document store (the raw layer)."""
