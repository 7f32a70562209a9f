"""DNA without a database or a server: label normalisation, the answer's schema checked title by title, the merge
threshold on the bundled model, and DNA's settings."""

from __future__ import annotations

import dagster as dg
import pytest

from goodwatch_assets.defs.resources import EmbeddingResource, build_resources
from goodwatch_assets.errors import ConfigurationError
from goodwatch_assets.lib.embedding import Embedder
from goodwatch_assets.models.labels import dna_text, normalise_dna, normalise_label
from goodwatch_assets.models.records import DNA_CATEGORIES
from goodwatch_assets.replica import vocabulary as V
from goodwatch_assets.settings import DEFAULT_MERGE_SIMILARITY, Settings
from goodwatch_assets.sources.dna import TitlePrompt, parse_answer
from goodwatch_assets_tests.helpers import ANSWERED_CATEGORIES as FULL
from goodwatch_assets_tests.helpers import answer_for

ORIGINAL = {variant: label for label, variant in V.DNA_VARIANTS.items()}


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


# -- normalisation and the answer's schema -----------------------------------------------------------


@pytest.mark.parametrize(("raw", "normal"), [
    ("  SLOW BURN ", "Slow Burn"), ("slow  burn", "Slow Burn"), ("Slow burn", "Slow Burn"), ("coming-of-age", "Coming-of-Age"),
    ("BLACK AND WHITE", "Black and White"), ("DNA Test", "DNA Test"), ("McGuffin", "McGuffin"), ("1950s", "1950s"),
    ("dark humor.", "Dark Humor"), ("none", None), ("N/A", None), ("", None), ("-", None), ("x" * 81, None),
])
def test_labels_are_normalised_to_one_spelling(raw, normal):
    assert normalise_label(raw) == normal


def test_every_replica_label_survives_the_noise_models_add():
    for labels in V.DNA_LABELS.values():
        for label in labels:
            assert normalise_label(label) == normalise_label(label.lower()) == normalise_label(f"  {label.upper()} ") \
                == normalise_label(label.replace(" ", "  ")) == label


def test_dna_is_normalised_per_category_and_written_as_one_text():
    dna = normalise_dna({"Mood": ["tense", "TENSE", " Eerie", "none"], "Humor": ["", "n/a"], "Plot": ["Quest"]})
    assert dna == {"Mood": ("Tense", "Eerie"), "Plot": ("Quest",)}
    assert dna_text(dna) == "Mood: Tense, Eerie\nPlot: Quest"
    assert tuple(V.DNA_LABELS) == DNA_CATEGORIES  # the replica answers the categories the prompt asks for


def test_the_dna_text_follows_the_category_order_whatever_the_mapping_order():
    assert dna_text({"Plot": ["Quest"], "Mood": ["Tense"]}) == dna_text({"Mood": ["Tense"], "Plot": ["Quest"]}) \
        == "Mood: Tense\nPlot: Quest"


ASKED = [TitlePrompt("movie", 1, "One", 2001, "x"), TitlePrompt("tv", 2, "Two", None, None)]


def test_an_answer_is_checked_title_by_title():
    parsed = parse_answer(answer_for([
        {"media": "movie", "tmdb_id": 1, "dna": {**FULL, "Not A Category": ["x"]}},
        {"media": "tv", "tmdb_id": 2, "dna": {"Mood": ["Tense"]}},
    ]), ASKED, "m")
    assert parsed[("movie", 1)].dna["Mood"] == ("Label A", "Label B")  # normalised; unknown categories dropped
    assert "Not A Category" not in parsed[("movie", 1)].dna and parsed[("movie", 1)].llm_model == "m"
    assert parsed[("tv", 2)] == f"only 1 of the {len(DNA_CATEGORIES)} categories have labels (at least 6)"


@pytest.mark.parametrize(("content", "problem"), [
    ('{"titles": [{"media": "movie", "tmdb_id": 1, "dna": ', "the answer is not JSON"),
    ('{"answers": []}', 'the answer has no "titles" list'),
    (answer_for([{"media": "movie", "tmdb_id": 1, "unknown": True}]), "the model says it does not know this title"),
    (answer_for([{"media": "movie", "tmdb_id": 1, "dna": "Tense, Eerie"}]), '"dna" is not an object'),
    (answer_for([{"media": "movie", "tmdb_id": 1, "dna": {**FULL, "Mood": "Tense"}}]), "labels of Mood are not a list"),
    (answer_for([{"media": "movie", "tmdb_id": 1, "dna": {**FULL, "Plot": [1, 2]}}]), "labels of Plot are not a list"),
    (answer_for([]), "missing from the answer"),
])
def test_unusable_answers_name_their_problem(content, problem):
    assert parse_answer(content, ASKED[:1], "m")[("movie", 1)].startswith(problem)


def test_a_fenced_json_answer_is_still_read():
    content = "```json\n" + answer_for([{"media": "movie", "tmdb_id": 1, "dna": FULL}]) + "\n```"
    assert not isinstance(parse_answer(content, ASKED[:1], "m")[("movie", 1)], str)


def test_the_merge_threshold_joins_spellings_and_keeps_distinct_labels_apart(embedder):
    """Every replica spelling variant is nearest to its own label above the threshold; no two distinct labels of
    a category are that close."""
    for category, labels in V.DNA_LABELS.items():
        vectors = embedder.encode(list(labels))
        similarity = vectors @ vectors.T
        for i in range(len(labels)):
            for j in range(i + 1, len(labels)):
                assert similarity[i, j] < DEFAULT_MERGE_SIMILARITY, (category, labels[i], labels[j])
        for label, variant in V.DNA_VARIANTS.items():
            if label in labels:
                scores = vectors @ embedder.encode([variant])[0]
                assert labels[int(scores.argmax())] == label and scores.max() >= DEFAULT_MERGE_SIMILARITY


@pytest.mark.parametrize(("name", "value", "message"), [
    ("GOODWATCH_LLM_DAILY_REQUESTS", "lots", "GOODWATCH_LLM_DAILY_REQUESTS: expected a whole number, got 'lots'"),
    ("GOODWATCH_LABEL_MERGE_SIMILARITY", "high", "GOODWATCH_LABEL_MERGE_SIMILARITY: expected a number, got 'high'"),
])
def test_a_malformed_number_setting_names_itself(name, value, message):
    with pytest.raises(ConfigurationError, match=message):
        build_resources(Settings.from_env({name: value}))


def test_a_merge_similarity_outside_zero_to_one_is_refused():
    with pytest.raises(ConfigurationError, match=r"GOODWATCH_LABEL_MERGE_SIMILARITY: expected a similarity in \(0, 1\]"):
        EmbeddingResource(merge_similarity=1.5).setup_for_execution(dg.build_init_resource_context())


def test_an_embedding_model_that_cannot_load_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="GOODWATCH_EMBEDDING_MODEL: cannot load the embedding model"):
        Embedder(str(tmp_path / "no-model-here")).encode(["x"])
