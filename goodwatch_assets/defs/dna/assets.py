"""DNA assets: extraction by an LLM (``dna``), then labels, links and vectors in the serving database
(``dna_vectors``)."""

from dataclasses import asdict

import dagster as dg

from goodwatch_assets.defs.freshness import freshness_policy
from goodwatch_assets.defs.partitions import CatalogPartition, catalog_partitions, range_metadata
from goodwatch_assets.defs.resources import (
    DocumentStoreResource,
    EmbeddingResource,
    FetchResource,
    LlmResource,
    QueuesResource,
    ServingDatabaseResource,
)
from goodwatch_assets.defs.retries import TRANSIENT_RETRY, not_retried_unless_transient
from goodwatch_assets.defs.run_resources import EMBEDDING, FETCHING
from goodwatch_assets.defs.title_runs import TitlesConfig, run_titles
from goodwatch_assets.sources import dna as source
from goodwatch_assets.sources import tmdb
from goodwatch_assets.sources.spec import MONTHLY
from goodwatch_assets.stores.dna_index import DnaIndex, IndexStats
from goodwatch_assets.stores.llm_budget import LlmBudget

GROUP = "dna"


@dg.asset(
    name=source.SPEC.name,
    partitions_def=catalog_partitions,
    deps=[source.SPEC.fed_by.source],
    group_name=GROUP,
    kinds={"python", "postgres"},
    pool=source.SPEC.site.name,
    op_tags=FETCHING.tags(),
    retry_policy=TRANSIENT_RETRY,
    freshness_policy=freshness_policy(source.SPEC.freshness),
    description=source.SPEC.description,
)
@not_retried_unless_transient()
def dna(context: dg.AssetExecutionContext, config: TitlesConfig, documents: DocumentStoreResource,
        fetch: FetchResource, queues: QueuesResource, llm: LlmResource) -> dg.MaterializeResult:
    client = fetch.client(source.LLM, headers=llm.headers(fetch))
    budget = LlmBudget(fetch.serving_db.db, llm.model, llm.daily_requests)

    def prompts(reservations):
        details = documents.store.get_many(tmdb.SPEC.name, [r.key for r in reservations])
        return source.title_prompts({key: document.record for key, document in details.items()})

    handle = source.dna_handle(prompts, budget.take, model=llm.model, titles_per_request=llm.titles_per_request)
    metadata = run_titles(context, source.SPEC, handle, config, documents=documents, fetch=fetch, queues=queues,
                          client=client)
    return dg.MaterializeResult(metadata={**metadata, "model": llm.model, "budget_used_today": budget.used(),
                                          "budget_per_day": llm.daily_requests})


@dg.asset(
    partitions_def=catalog_partitions,
    deps=[dna],
    group_name=GROUP,
    kinds={"python", "pgvector"},
    op_tags=EMBEDDING.tags(),
    automation_condition=dg.AutomationCondition.eager(),
    freshness_policy=freshness_policy(MONTHLY),
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="DNA in the serving database: labels normalised and stored once per category (near-duplicates "
    "merged by embedding proximity as they arrive), title-label links for filtering, and one DNA vector per "
    "title (HNSW, cosine) for similar titles. Reads only DNA changed since its last run. A backfill indexes its "
    "whole range in one run (it only reads and writes the database).",
)
def dna_vectors(
    context: dg.AssetExecutionContext,
    documents: DocumentStoreResource,
    serving_db: ServingDatabaseResource,
    embedding: EmbeddingResource,
) -> dg.MaterializeResult:
    partitions = [CatalogPartition.from_key(key) for key in context.partition_keys]
    index = DnaIndex(serving_db.db, embedding.embedder, embedding.merge_similarity)
    total = IndexStats()
    for partition in partitions:
        stats = index.index_changes(documents.store, partition.media, partition.shard)
        context.log.info(f"dna_vectors {partition.key}: {stats}")
        total += stats
    return dg.MaterializeResult(metadata={
        **asdict(total), "dagster/row_count": total.title_embeddings, "model": index.embedder.model_name,
        **range_metadata(partitions),
    })
