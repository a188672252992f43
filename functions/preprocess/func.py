"""Knative function `aurora-preprocess`: observation.stored -> read the L2B file, draw the heatmap -> heatmap.ready.

The logic lives in `marsaurora.chain`; this file only names the stage for
the `parliament-functions` runtime, which calls `main(context)` per request.
"""

from marsaurora.chain.http import stage_main

main = stage_main("preprocess")
