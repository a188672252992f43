"""The local event-driven stack: an S3 server, the stage functions and a broker on loopback.

The same chain as on Knative, on one machine: ``aurora stack up`` starts it,
``aurora run --via-events`` pushes a batch through it.
"""
