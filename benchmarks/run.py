"""Run the speed benchmarks of issue 7 -- the same as ``testbed bench`` (see benchmarks/README.md).

    python benchmarks/run.py                 # full run: every target, ~4 minutes on 2 cores
    python benchmarks/run.py --quick         # smoke run (CI): every row, small sizes, no targets
    python benchmarks/run.py --only loop mlp --out /tmp/bench
"""

from __future__ import annotations

import sys

from testbed.bench import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
