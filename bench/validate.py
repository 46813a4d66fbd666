"""Wall time of `ftjanitor validate`, whole process: one file, and 1,000 files.

Goals (issue 2): one file under 150 ms; 1,000 files under 2 s.
Run: .venv/bin/python bench/validate.py
"""

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "jobs" / "nightly.yaml"


def wall(args: list[str], runs: int) -> float:
    """Median seconds of ``runs`` whole-process runs of ``python -m runner ARGS``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "runner", *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1000):
            shutil.copy(EXAMPLE, Path(tmp) / f"job-{i:04d}.yaml")
        return {
            "validate_1_file_s": wall(["validate", str(EXAMPLE)], 15),
            "validate_1000_files_s": wall(["validate", tmp], 5),
        }


def main() -> None:
    figures = measure()
    one, many = figures["validate_1_file_s"] * 1000, figures["validate_1000_files_s"] * 1000
    print(f"validate 1 file, whole process (median of 15):    {one:7.1f} ms  (goal < 150 ms)")
    print(f"validate 1000 files, whole process (median of 5): {many:7.1f} ms  (goal < 2000 ms)")


if __name__ == "__main__":
    main()
