"""Security without a server: guessed URLs stay on their site, and SQL never carries a value in its text."""

from __future__ import annotations

import ast
from urllib.parse import urlsplit

import pytest

from goodwatch_assets.sources import metacritic, rotten_tomatoes, tvtropes
from goodwatch_assets_tests.helpers import PROJECT

PACKAGE = PROJECT / "goodwatch_assets"
HOSTILE_TITLES = ["../../admin", "http://collector.invalid/x", "//collector.invalid", "a/../../b", "%2e%2e%2fetc",
                  "Tom & Jerry?x=1#frag", "\\\\collector.invalid\\share", "Ünïcødé: The Return", "@collector.invalid"]


@pytest.mark.parametrize("module", [metacritic, rotten_tomatoes, tvtropes])
def test_guessed_urls_stay_on_the_sources_host_whatever_the_title(module):
    policy = module.SPEC.site
    host = urlsplit(policy.base_url).hostname
    for media in ("movie", "tv"):
        for title in HOSTILE_TITLES:
            for path in module.candidate_paths(media, [title], 1999):
                url = urlsplit(policy.url(path))
                assert (url.scheme, url.hostname) == ("https", host), (title, path)
                assert ".." not in url.path.split("/") and not url.query and not url.fragment, (title, path)


# -- SQL ------------------------------------------------------------------------------------------------------------

# Names an f-string of SQL may interpolate: constants of the module (upper case) and the identifiers and fragments
# the stores build from their own constants (table names, column lists, lane conditions, aliases of sources).
INTERNAL_SQL_PARTS = {"table", "columns", "condition", "order", "alias", "merged(c)", "c.name", "expr", "name"}


def _sql_calls():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                    and node.func.attr in ("execute", "executemany", "copy", "SQL")
                    and isinstance(node.args[0], ast.JoinedStr)):
                yield path, node


def test_sql_text_interpolates_only_constants_and_internal_identifiers():
    found = 0
    for path, node in _sql_calls():
        for part in node.args[0].values:
            if isinstance(part, ast.FormattedValue):
                found += 1
                name = ast.unparse(part.value)
                constant = name.lstrip("_").split(".")[-1].lstrip("_").isupper()
                assert constant or name in INTERNAL_SQL_PARTS, f"{path.name}:{node.lineno} interpolates {name!r}"
    assert found > 10  # the scan sees the stores' SQL


