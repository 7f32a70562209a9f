"""Plain libraries the pipeline is made of, free of Dagster, above the stores: one run of a per-title source through
its queue, whole-file ingests, app demand and lane 2's ranking, search, embeddings, and the synthetic catalog of the
scale tests."""
