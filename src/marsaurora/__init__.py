"""Detect and catalogue discrete Martian auroras in EMM/EMUS Level 2B scans."""

import os

# The pipeline runs one process per core (embedded workers, one function instance per
# container CPU); numpy's BLAS threads on top of that oversubscribe the cores, and the
# excess map's small solves (classify/background.py) then ran 3-4x slower. Set before
# numpy loads, unless the user chose otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
