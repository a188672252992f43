"""Knative function `aurora-classify`: heatmap.ready -> screen for aurora candidates -> candidate.found / candidate.none.

The logic lives in `marsaurora.chain`; this file only names the stage for
the `parliament-functions` runtime, which calls `main(context)` per request.
"""

from marsaurora.chain.http import stage_main

main = stage_main("classify")
