"""Run the ftjanitor CLI and report its own peak RSS (ru_maxrss) on stderr's last line."""

import resource
import sys

from runner.cli import main
from runner.quickexit import QuickExit

if __name__ == "__main__":
    leaving = QuickExit()  # as the ftjanitor command leaves
    code = main(sys.argv[1:])
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"PEAK_RSS_KIB {peak_kib}", file=sys.stderr)
    leaving.code = code
    raise SystemExit(code)
