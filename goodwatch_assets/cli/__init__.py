"""The ``goodwatch`` command: what is not a Dagster launch (stores, the main job, search, the replica, operations).

Each module here adds one group of commands to :data:`main`; importing the package registers them all.
"""

from goodwatch_assets.cli import (  # noqa: F401 - each registers its commands
    cooldowns,
    demand,
    explain,
    pools,
    quarantine,
    replica,
    run,
    search,
    stores,
)
from goodwatch_assets.cli.app import main

__all__ = ["main"]
