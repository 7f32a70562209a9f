"""What the stores hold right now: one summary for the CLI's ``stores status`` and the asset."""

from __future__ import annotations

from dataclasses import dataclass

from goodwatch_assets.stores.documents import DocumentStore
from goodwatch_assets.stores.serving_db import ServingDb


@dataclass(frozen=True)
class StoreInventory:
    serving_db_url: str  # password redacted
    serving_db_embedded: bool
    schema_version: int
    document_backend: str
    status_counts: dict[str, dict[str, int]]  # source -> status -> documents

    @property
    def total_documents(self) -> int:
        return sum(sum(counts.values()) for counts in self.status_counts.values())

    def as_text(self) -> str:
        kind = "embedded PostgreSQL" if self.serving_db_embedded else "PostgreSQL (DATABASE_URL)"
        lines = [
            f"serving database: {kind} at {self.serving_db_url}, schema version {self.schema_version}",
            f"document store:   {self.document_backend}, {self.total_documents} documents",
        ]
        for source, counts in sorted(self.status_counts.items()):
            summary = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
            lines.append(f"  {source}: {summary}")
        return "\n".join(lines)

    def as_markdown(self) -> str:
        statuses = sorted({status for counts in self.status_counts.values() for status in counts})
        if not statuses:
            return "The document store is empty."
        rows = ["| source | " + " | ".join(statuses) + " |", "|---" * (len(statuses) + 1) + "|"]
        for source, counts in sorted(self.status_counts.items()):
            rows.append(f"| {source} | " + " | ".join(str(counts.get(s, 0)) for s in statuses) + " |")
        return "\n".join(rows)


def take_inventory(serving_db: ServingDb, documents: DocumentStore) -> StoreInventory:
    return StoreInventory(
        serving_db_url=serving_db.display_url,
        serving_db_embedded=serving_db.embedded,
        schema_version=serving_db.schema_version(),
        document_backend=documents.backend,
        status_counts={source: documents.count_by_status(source) for source in documents.sources()},
    )
