"""One module per upstream: URL building and parsing into canonical records. No Dagster here."""
