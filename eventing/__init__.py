"""The Broker and Trigger manifests, installed as package data (``marsaurora.eventing``)
so the local stack finds them outside a clone."""
