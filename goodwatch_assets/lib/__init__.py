"""Plain libraries the pipeline is made of, free of Dagster: fetching a partition's titles through the work queue,
whole-file ingests, app demand and lane 2's ranking, search, DNA labels, catalog shards, embeddings, and the
synthetic catalog of the scale tests."""
