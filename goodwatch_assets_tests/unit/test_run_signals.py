"""``goodwatch run`` ends on SIGTERM and SIGHUP as on Ctrl-C (the runs under way stopped, see the main job's tests),
with the signal's exit code; after SIGHUP it writes nothing to the terminal that is gone."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from goodwatch_assets_tests.helpers import PROJECT

WAITING_COMMAND = """
import sys, time
from goodwatch_assets.cli.run import stop_on_termination
received = stop_on_termination()
print("ready", flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    print(f"stopping on {received['signal']}", flush=True)
    sys.exit(128 + received["signal"])
"""


@pytest.mark.parametrize(("signum", "said"), [(signal.SIGTERM, f"stopping on {signal.SIGTERM:d}"),
                                              (signal.SIGHUP, "")])
def test_a_terminating_signal_is_taken_as_an_interrupt(signum, said):
    process = subprocess.Popen([sys.executable, "-c", WAITING_COMMAND], cwd=PROJECT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signum)
        assert process.wait(timeout=30) == 128 + signum
        assert process.stdout.read().strip() == said
    finally:
        if process.poll() is None:
            process.kill()
