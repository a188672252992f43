"""Knative function `aurora-deadletter`: dead-lettered events -> dead-letter/, and a record for observations no stage could answer for.

The logic lives in `marsaurora.chain`; this file only names the stage for
the `parliament-functions` runtime, which calls `main(context)` per request.
"""

from marsaurora.chain.http import stage_main

main = stage_main("deadletter")
