"""The local emulator of the cluster: an S3 server, a Knative-style broker and a batch client.

On one machine with no cluster, ``aurora stack up`` starts the S3 server,
each stage function (served by :mod:`marsaurora.chain.serve`, as in the
containers) and the broker; ``aurora run --via-events`` pushes a batch
through them. Nothing here runs in production: the function server and the
event poster the watcher and ingest use live in :mod:`marsaurora.chain`.
"""
