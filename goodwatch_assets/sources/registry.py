"""Every source and site, found in the modules of ``sources/``: the one list the rest of the pipeline derives from.

A module that defines ``SPEC`` (a :class:`SourceSpec`) is a source; the sites are every source's site plus any
other a module lists in ``SITES`` (TMDB's export files). Sources come in dependency order (a source after the one
that feeds it), then by name. The specs are checked together when this module loads, so a spec that contradicts
another (a name or alias twice, a feed from nowhere) stops the code location with one line naming it.
"""

from __future__ import annotations

import importlib
import pkgutil

import goodwatch_assets.sources as package
from goodwatch_assets.errors import GoodwatchError
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.sources.spec import SourceSpec


class SpecError(GoodwatchError):
    """Source specs that cannot all hold."""


def _modules():
    for found in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if found.name not in ("registry", "spec"):
            yield importlib.import_module(f"{package.__name__}.{found.name}")


def in_feed_order(specs: list[SourceSpec]) -> tuple[SourceSpec, ...]:
    """Sources after the one that feeds them, then by name; a feed from no spec (or a cycle) is refused."""
    by_name = {spec.name: spec for spec in specs}
    ordered: list[SourceSpec] = []
    while len(ordered) < len(specs):
        ready = [s for s in specs if s not in ordered and (s.fed_by is None or by_name.get(s.fed_by.source) in ordered)]
        if not ready:
            stuck = sorted(s.name for s in specs if s not in ordered)
            raise SpecError(f"sources {stuck} are fed by a source that is not a spec, or by each other")
        ordered += sorted(ready, key=lambda s: (s.fed_by is not None, s.name))
    return tuple(ordered)


def check_specs(specs: tuple[SourceSpec, ...], sites: tuple[SitePolicy, ...]) -> None:
    """Refuse specs that cannot all hold: a name or a serving alias or column twice, a sweep or a queue where the
    source is not fetched title by title."""
    def unique(kind: str, values: list[str]) -> None:
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise SpecError(f"{kind} {twice} declared twice")

    unique("source names", [s.name for s in specs])
    unique("site names", [s.name for s in sites])
    unique("serving aliases", [s.serving.alias for s in specs if s.serving])
    unique("serving columns", [c.name for s in specs if s.serving for c in s.serving.columns])
    for spec in specs:
        if spec.per_title and spec.partitions != "catalog":
            raise SpecError(f"{spec.name}: a per-title source (with a queue) needs catalog partitions")
        if spec.sweep and not spec.per_title:
            raise SpecError(f"{spec.name}: a sweep needs a per-title source (with a queue)")


def _load() -> tuple[tuple[SourceSpec, ...], tuple[SitePolicy, ...]]:
    specs, sites = [], []
    for module in _modules():
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, SourceSpec):
            specs.append(spec)
            sites.append(spec.site)
        sites += [site for site in getattr(module, "SITES", ()) if site not in sites]
    ordered = in_feed_order(specs)
    unique_sites = tuple(sorted(dict.fromkeys(sites), key=lambda site: site.name))
    check_specs(ordered, unique_sites)
    return ordered, unique_sites


SOURCES, SITES = _load()
PER_TITLE_SOURCES = tuple(spec for spec in SOURCES if spec.per_title)
"""The sources fetched title by title (lane 1 sweeps them; lane 2 asks them for single titles)."""


def fed_by(name: str) -> tuple[SourceSpec, ...]:
    """The sources whose queues a source's fetched titles fill."""
    return tuple(spec for spec in SOURCES if spec.fed_by and spec.fed_by.source == name)
