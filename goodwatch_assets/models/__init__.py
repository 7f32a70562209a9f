"""The project's data types, free of stores and Dagster: canonical records (``records``, the schema gate) and the
raw layer's record and queue types (``queue``)."""
