"""An archive-sized run killed with SIGKILL, resumed and repeated; writes docs/resume.json.

    python scripts/bench_resume.py --sizes 1000,5000,20000
    python scripts/bench_resume.py --sizes 40 --distinct 20 --out /tmp/resume   # smoke
"""

import sys

from marsaurora.bench.resume import main

if __name__ == "__main__":
    sys.exit(main())
