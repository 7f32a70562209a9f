"""The project's data types and their canonical forms, free of stores and Dagster: canonical records (``records``, the
schema gate), the raw layer's record and queue types (``queue``), the catalog's media types and shards (``shards``),
and DNA labels in their one spelling (``labels``)."""
