"""``dagster dev`` for the tests that use the UI: an instance directory of their own, and the webserver with its daemon
on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from goodwatch_assets_tests.helpers import PROJECT, answers, free_port, stop, wait_for

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def new_dagster_home(parent: Path) -> Path:
    """An empty Dagster instance directory in ``parent``, with the project's ``dagster.yaml``."""
    home = parent / "home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


@contextmanager
def running_dagster_dev(environ: Mapping[str, str], log: Path) -> Iterator[str]:
    """``dagster dev`` (webserver and daemon) of the project's workspace on a free loopback port, with ``environ`` (its
    ``DAGSTER_HOME`` among them) and its output in ``log``: the webserver's URL once it answers; stopped after."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [DAGSTER, "dev", "-w", str(PROJECT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT, env=environ, start_new_session=True, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{url}/server_info"), 120, what="the webserver")
        yield url
    finally:
        stop(process)
