"""Knative function `aurora-ingest`: S3/MinIO bucket notifications -> observation.stored events.

The logic lives in `marsaurora.watcher.notifications`; events go to `K_SINK`
(a SinkBinding to the aurora Broker sets it).
"""

from marsaurora.watcher.notifications import ingest_main

main = ingest_main()
