"""ftjanitor's benchmarks (`make bench`).

Every figure times whole processes, so ftjanitor's modules are byte-compiled first: an
installed ftjanitor has its bytecode (pip compiles it), while a checkout run with
PYTHONDONTWRITEBYTECODE set (or in a read-only tree) would compile every module again in
every process measured, about 0.1 s that no user pays.
"""

import compileall
from pathlib import Path

compileall.compile_dir(Path(__file__).resolve().parent.parent / "runner", quiet=1)
