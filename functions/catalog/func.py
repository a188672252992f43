"""Knative function `aurora-catalog`: detections.ready -> aurora boxes located on Mars, overlay PNG -> observation.cataloged.

The logic lives in `marsaurora.chain`; this file only names the stage for
the `parliament-functions` runtime, which calls `main(context)` per request.
"""

from marsaurora.chain.http import stage_main

main = stage_main("catalog")
