"""DNA assets: extraction by an LLM (``dna``), then labels, links and vectors in the serving database
(``dna_vectors``)."""


import dagster as dg

from goodwatch_assets.assets.lane1 import Lane1Config, run_partition
from goodwatch_assets.assets.tmdb import tmdb_details
from goodwatch_assets.automation.freshness import FRESHNESS
from goodwatch_assets.partitions import CatalogPartition, catalog_partitions
from goodwatch_assets.resources import (
    DocumentStoreResource,
    EmbeddingResource,
    ServingDatabaseResource,
    UpstreamsResource,
)
from goodwatch_assets.sources import dna as dna_source
from goodwatch_assets.stores.dna_index import DnaIndex
from goodwatch_assets.stores.llm_budget import LlmBudget


@dg.asset(
    partitions_def=catalog_partitions,
    deps=[tmdb_details],
    group_name="dna",
    kinds={"python", "postgres"},
    pool="llm",
    freshness_policy=FRESHNESS["dna"],
    description="Each title's DNA (Mood, Plot, Character Types, Key Props, ... -> labels), extracted by an "
    "OpenAI-compatible chat model from its TMDB details, several titles per request; answers validated, "
    "unusable ones asked again (twice) and then quarantined; a daily request budget per model.",
)
def dna(
    context: dg.AssetExecutionContext,
    config: Lane1Config,
    documents: DocumentStoreResource,
    serving_db: ServingDatabaseResource,
    upstreams: UpstreamsResource,
) -> dg.MaterializeResult:
    policy = upstreams.llm_policy()
    budget = LlmBudget(serving_db.db, upstreams.llm_model, upstreams.llm_daily_requests)
    handle = dna_source.dna_handle(documents.store, budget.take, model=upstreams.llm_model,
                                   api_key=upstreams.llm_api_key, titles_per_request=upstreams.llm_titles_per_request)
    result = run_partition(context, source=dna_source.SOURCE, site=dna_source.SITE, handle=handle, config=config,
                           documents=documents, serving_db=serving_db, upstreams=upstreams, policy=policy)
    return dg.MaterializeResult(metadata={**result.metadata, "model": upstreams.llm_model,
                                          "budget_used_today": budget.used(),
                                          "budget_per_day": upstreams.llm_daily_requests})


@dg.asset(
    partitions_def=catalog_partitions,
    deps=[dna],
    group_name="dna",
    kinds={"python", "pgvector"},
    automation_condition=dg.AutomationCondition.eager(),
    freshness_policy=FRESHNESS["dna_vectors"],
    description="DNA in the serving database: labels normalised and stored once per category (near-duplicates "
    "merged by embedding proximity as they arrive), title-label links for filtering, and one DNA vector per "
    "title (HNSW, cosine) for similar titles. Reads only DNA changed since its last run.",
)
def dna_vectors(
    context: dg.AssetExecutionContext,
    documents: DocumentStoreResource,
    serving_db: ServingDatabaseResource,
    embedding: EmbeddingResource,
) -> dg.MaterializeResult:
    partition = CatalogPartition.from_key(context.partition_key)
    index = DnaIndex(serving_db.db, embedding.embedder, embedding.merge_similarity)
    stats = index.index_changes(documents.store, partition.media, partition.shard)
    context.log.info(f"dna_vectors {partition.key}: {stats}")
    return dg.MaterializeResult(metadata={
        "titles": stats.titles, "removed": stats.removed, "labels_new": stats.labels_new, "labels_merged": stats.labels_merged,
        "label_embeddings": stats.label_embeddings, "title_embeddings": stats.title_embeddings,
        "links": stats.links, "model": index.embedder.model_name, "partition": partition.key,
    })
