"""Wall time of `ftjanitor validate`, whole process: one file, and 1,000 files.

Goals: one file under 150 ms, and within 1.3 times a process that only imports what
validation cannot do without (`python -c "import yaml, jsonschema"`, measured in the same
run); 1,000 files under 2 s.
Run: .venv/bin/python -m bench.validate
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


BASELINE = ["-c", "import yaml, jsonschema"]


def walls(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median seconds of ``runs`` whole-process runs of ``python ARGS`` for each command,
    taken in turns (one of each, then again) so that every command sees the same machine."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, *args], check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1000):
            shutil.copy(EXAMPLE, Path(tmp) / f"job-{i:04d}.yaml")
        one = ["-m", "runner", "validate", str(EXAMPLE)]
        figures = walls({"imports_s": BASELINE, "validate_1_file_s": one}, 21)
        figures |= walls({"validate_1000_files_s": ["-m", "runner", "validate", tmp]}, 5)
        return figures


def main() -> None:
    figures = measure()
    one, many = figures["validate_1_file_s"] * 1000, figures["validate_1000_files_s"] * 1000
    print(f"validate 1 file, whole process (median of 21):    {one:7.1f} ms  (goal < 150 ms)")
    print(f"validate 1000 files, whole process (median of 5): {many:7.1f} ms  (goal < 2000 ms)")
    ratio = figures["validate_1_file_s"] / figures["imports_s"]
    base = figures["imports_s"] * 1000
    print(f"validate 1 file vs importing yaml, jsonschema ({base:.1f} ms): {ratio:.2f} (goal 1.3)")


if __name__ == "__main__":
    main()
