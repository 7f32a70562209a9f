"""The Dagster UI as the README pictures it, drawn by headless Chromium after the main job: ``dagster dev`` on the
instance where the main job ran the whole graph against a 200-title replica. The global asset lineage with every group
expanded draws every asset inside its group, with its partitions filled and its checks' results; a source's page plots
its coverage and its quarantine share (each run's materialization metadata) over time.

``GOODWATCH_UPDATE_SCREENSHOT=1`` copies both pictures to ``docs/`` (``asset-graph.png``, ``asset-plots.png``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import partial

import dagster as dg
import pytest

from goodwatch_assets.definitions import defs
from goodwatch_assets.defs.main_job import run_pipeline
from goodwatch_assets.defs.partitions import catalog_partitions
from goodwatch_assets.defs.priority.sensor import priority_sensor
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.settings import DAGSTER_HOME
from goodwatch_assets_tests.chromium import CHROMIUM, Chromium
from goodwatch_assets_tests.dagster_ui import DAGSTER, new_dagster_home, running_dagster_dev
from goodwatch_assets_tests.end_to_end.test_ui_and_backfill import graphql
from goodwatch_assets_tests.helpers import (
    DAY,
    DNA_TABLES,
    PROJECT,
    clear_serving,
    replica_environ,
    replica_resources,
    wait_for,
)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")

REPLICA_TITLES, REPLICA_SEED = 200, 64
"""A small replica, and yet with titles in every catalog partition of the day's export: the checks pictured judge titles (an
empty partition's coverage check warns)."""

GRAPH = defs.resolve_asset_graph()
GRAPH_PICTURE, PLOTS_PICTURE = PROJECT / "docs" / "asset-graph.png", PROJECT / "docs" / "asset-plots.png"
PLOTTED_SOURCE = "metacritic"
"""The source whose page is pictured: its coverage differs from partition to partition (not every title has a page)."""
PLOTTED_METADATA = {"quarantine_share": ("quarantine_share", "share"), "share_with_data": ("coverage", "share_with_data")}
"""The plots pictured (in the order the page draws its plots: by name), and the check that judges the same share, with
its name for it."""
SEEN_BEFORE = {"asset-graph-direction": "vertical", "dagster-nav-collapsed": True}
"""The UI's settings in the browser's local storage, as a user who chose them leaves them: the graph drawn top to
bottom (wider than tall, like a screen) and the navigation folded to its icons."""

# The global lineage draws each asset as a foreignObject named by its ``data-tooltip``, and each group as a
# foreignObject of class ``group`` around its assets; each with its place (x, y, width, height) in the graph.
DRAWN_GRAPH = """(() => {
    const drawn = [...document.querySelectorAll('foreignObject')].filter(o => o.querySelector('[data-tooltip]'));
    const place = o => ['x', 'y', 'width', 'height'].map(name => Number(o.getAttribute(name)));
    const name = o => o.querySelector('[data-tooltip]').textContent;
    return {
        groups: Object.fromEntries(drawn.filter(o => o.classList.contains('group')).map(o => [name(o), place(o)])),
        assets: Object.fromEntries(drawn.filter(o => !o.classList.contains('group'))
                                        .map(o => [name(o), {place: place(o), text: o.firstElementChild.innerText}])),
    };
})()"""
# The graph's SVG sits in a zoomed and panned layer of the viewport: its zoom, and the zoom that fits its width.
GRAPH_ZOOM = """(() => {
    const svg = document.querySelector('foreignObject').closest('svg');
    const viewport = svg.parentElement.parentElement;
    return [new DOMMatrix(svg.parentElement.style.transform).a,
            Math.min(1, viewport.getBoundingClientRect().width / svg.width.baseVal.value)];
})()"""
FIT_TO_WIDTH = """document.querySelector('foreignObject').closest('svg').parentElement.parentElement
    .dispatchEvent(new MouseEvent('dblclick', {bubbles: true}))"""
"""What a double click on the graph does."""
FOLD_SIDEBAR = 'button:has([aria-label="panel_show_right"])'
"""The button that folds the asset tree beside the graph."""
MINIMAL_SCALE = 0.6
"""Below this zoom the UI draws an asset as its name alone: no partitions, no checks (ui-core's MINIMAL_SCALE)."""


def drawn_graph(browser: Chromium) -> dict | None:
    """The groups and assets as drawn, once every asset's status has loaded."""
    drawn = browser.evaluate(DRAWN_GRAPH)
    return drawn if drawn["assets"] and not any("Loading" in a["text"] for a in drawn["assets"].values()) else None


def fitted_zoom(browser: Chromium) -> float | None:
    """The graph's zoom, once it fits the graph's width in the viewport."""
    zoom, fitting = browser.evaluate(GRAPH_ZOOM)
    return zoom if abs(zoom - fitting) < 1e-3 else None


def code_location_definitions(replica_url: str) -> dg.Definitions:
    """The code location's assets and checks (what ``goodwatch run`` runs) at the replica; the main job's workers
    build them from this."""
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, resources=replica_resources(replica_url))


@pytest.fixture(scope="module")
def ui_after_the_main_job(tmp_path_factory, serving_db):
    """``dagster dev`` on the instance where the main job recorded its runs; the community pop-up dismissed. The
    priority sensor is stopped before the daemon starts: it would refresh the trending titles the main job fetched,
    and its runs would be under way in the pictures."""
    with serving_db.connect() as conn:
        conn.execute(f"TRUNCATE raw.documents, {DNA_TABLES}")
    clear_serving(serving_db)
    parent = tmp_path_factory.mktemp("ui-screenshots")
    home = new_dagster_home(parent)
    with ReplicaServer(Replica(SyntheticCatalog(REPLICA_TITLES, seed=REPLICA_SEED))) as server:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = run_pipeline(partial(code_location_definitions, server.url), instance, day=DAY.isoformat())
        assert runs and all(run.success for run in runs)
        environ = replica_environ(server.url, **{DAGSTER_HOME: str(home)})
        subprocess.run([DAGSTER, "sensor", "stop", priority_sensor.name, "-w", str(PROJECT / "workspace.yaml")],
                       cwd=PROJECT, env=environ, capture_output=True, timeout=120, check=True)
        with running_dagster_dev(environ, parent / "dev.log") as url:
            graphql(url, "mutation { setNuxSeen }")
            yield url, home


def test_the_expanded_asset_graph_draws_every_asset_in_its_group_with_partitions_and_checks(ui_after_the_main_job,
                                                                                              tmp_path):
    url, _ = ui_after_the_main_job
    keys = GRAPH.get_all_asset_keys()
    group_of = {key.to_user_string(): GRAPH.get(key).group_name for key in keys}
    expanded = ",".join(f"global@global:{group}" for group in sorted(set(group_of.values())))  # the UI's group ids
    with Chromium(tmp_path / "profile", 2500, 1100) as browser:
        browser.seed_local_storage(f"{url}/server_info", SEEN_BEFORE)
        browser.open(f"{url}/asset-groups/?expanded={expanded}")
        browser.wait_until("document.querySelectorAll('foreignObject').length > 0", 120, "the asset graph")
        browser.click(FOLD_SIDEBAR)  # room for the graph
        browser.wait_until(f"!document.querySelector({json.dumps(FOLD_SIDEBAR)})", 30, "the sidebar folded")
        browser.evaluate(FIT_TO_WIDTH)
        zoom = wait_for(lambda: fitted_zoom(browser), 30, every=0.5, what="the graph zoomed to fit its width")
        assert zoom >= MINIMAL_SCALE, f"at zoom {zoom:.2f} the assets are drawn as bare names"
        drawn = wait_for(lambda: drawn_graph(browser), 120, every=1, what="every asset's status")
        shot = tmp_path / "asset-graph.png"
        browser.screenshot(shot)

    assert set(drawn["assets"]) == set(group_of), "the assets drawn are not the code location's"
    assert set(drawn["groups"]) == set(group_of.values())
    for name, group in group_of.items():
        (x, y, width, height), (gx, gy, gwidth, gheight) = drawn["assets"][name]["place"], drawn["groups"][group]
        assert gx <= x and x + width <= gx + gwidth and gy <= y and y + height <= gy + gheight, f"{name} not in {group}"
    for key in keys:
        node, text = GRAPH.get(key), drawn["assets"][key.to_user_string()]["text"]
        if node.partitions_def == catalog_partitions:  # the main job ran every catalog partition
            assert re.search(r"Partitions\s+100% filled", text), text
        if checks := len(node.check_keys):  # how many of its checks passed, of how many
            assert re.search(rf"Asset checks\s+\d / {checks} Passed", text), text
    assert shot.stat().st_size > 100_000  # a drawn graph, not a blank page
    if os.environ.get("GOODWATCH_UPDATE_SCREENSHOT"):
        shutil.copy(shot, GRAPH_PICTURE)


def test_a_sources_page_plots_its_coverage_and_quarantine_share_over_time(ui_after_the_main_job, tmp_path):
    url, home = ui_after_the_main_job
    source = dg.AssetKey(PLOTTED_SOURCE)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        points = {event.asset_materialization.partition: event.asset_materialization.metadata
                  for event in instance.fetch_materializations(source, limit=100).records}
        judged = {(plot, record.partition): record.evaluation.metadata[label].value
                  for plot, (check, label) in PLOTTED_METADATA.items()
                  for record in instance.event_log_storage.get_asset_check_execution_history(
                      dg.AssetCheckKey(source, check), limit=100)}
    # a run per partition, a point each, and each partition's checks
    assert set(points) == {partition for _, partition in judged} == set(catalog_partitions.get_partition_keys())
    for (plot, partition), share in judged.items():  # each point is its partition's share, as its check judged it
        assert points[partition][plot].value == share, (plot, partition)
    plots = f"""Object.fromEntries([...document.querySelectorAll('span')]
        .filter(span => {json.dumps(list(PLOTTED_METADATA))}.includes(span.textContent))
        .map(span => [span.textContent, span.parentElement.parentElement.querySelector('canvas')])
        .filter(([, canvas]) => canvas)
        .map(([name, canvas]) => [name, [canvas.getBoundingClientRect().top, canvas.getBoundingClientRect().bottom]]))"""
    with Chromium(tmp_path / "profile", 1800, 1500) as browser:
        browser.seed_local_storage(f"{url}/server_info", SEEN_BEFORE)
        browser.open(f"{url}/assets/{PLOTTED_SOURCE}")
        browser.wait_until("[...document.querySelectorAll('button')].some(b => b.textContent.trim() === 'Plots')", 120,
                           "the asset's metadata")
        browser.click("button", "Plots")  # the metadata section's plots instead of its table
        browser.click("button", "Events")  # over time, not by partition
        wait_for(lambda: len(browser.evaluate(plots)) == len(PLOTTED_METADATA), 60, every=0.5, what="the plots")
        browser.evaluate(f"""[...document.querySelectorAll('span')].find(span => span.textContent ===
                             '{min(PLOTTED_METADATA)}').scrollIntoView({{block: 'start'}})""")
        drawn = browser.evaluate(plots)
        shot = tmp_path / "asset-plots.png"
        browser.screenshot(shot)

    for name, (top, bottom) in drawn.items():  # both plots whole in the picture
        assert 0 < top and bottom <= browser.height, f"the {name} plot is not in the picture: {top:.0f}..{bottom:.0f}"
    assert shot.stat().st_size > 100_000
    if os.environ.get("GOODWATCH_UPDATE_SCREENSHOT"):
        shutil.copy(shot, PLOTS_PICTURE)
