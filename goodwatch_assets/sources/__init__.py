"""One module per upstream, each everything particular to it: its sites, its ``SPEC`` (``spec.py``), candidate URLs,
parsers into canonical records, and how one title is fetched. ``registry.py`` finds the specs; no Dagster and no store
here."""
