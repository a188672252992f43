"""Knative function `aurora-detect`: candidate.found -> YOLO boxes on the heatmap -> detections.ready.

The logic lives in `marsaurora.chain`; this file only names the stage for
the `parliament-functions` runtime, which calls `main(context)` per request.
"""

from marsaurora.chain.http import stage_main

main = stage_main("detect")
