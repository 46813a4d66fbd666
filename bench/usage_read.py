"""Run the ftjanitor CLI as bench.measure does, and write how long each usage read took
(wall seconds, one line per read) to the file named by ``BENCH_USAGE_READ_FILE``: the
part of a plan that ``unused_for`` adds, timed inside the process, free of the start-up
and scheduling noise that whole-process timings carry on a busy machine."""

import os
import runpy
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from runner.ref import ResourceRef
from runner.usage import REGISTRY
from runner.usage.base import Seen


def timing(source: Any, out: str) -> None:
    read = source.read

    def timed_read(
        lister: Any, items: Sequence[tuple[ResourceRef, Any]], start: datetime, now: datetime
    ) -> Mapping[ResourceRef, Seen]:
        began = time.perf_counter()
        try:
            return dict(read(lister, items, start, now))
        finally:
            with open(out, "a") as file:
                file.write(f"{time.perf_counter() - began:.6f}\n")

    source.read = timed_read


if __name__ == "__main__":
    for source in REGISTRY.values():
        timing(source, os.environ["BENCH_USAGE_READ_FILE"])
    runpy.run_module("bench.measure", run_name="__main__")
