"""The DNA domain: extraction by an LLM and the vectors, with the DNA source's checks."""

import dagster as dg

from goodwatch_assets.defs.dna.assets import dna, dna_vectors
from goodwatch_assets.defs.source_checks import source_checks
from goodwatch_assets.sources import dna as source

defs = dg.Definitions(
    assets=[dna, dna_vectors],
    asset_checks=source_checks(source.SPEC),
)
