"""A chain that already runs elsewhere: a Knative Broker on a cluster, and its bucket.

``aurora run --via-events --broker URL`` uploads to the bucket named by the
``AURORA_S3_*`` settings and sends ``observation.stored`` events to that
Broker's ingress, then waits for the records as it does with the local
stack; the chart's ``helm test`` does exactly this from inside the cluster.
"""

import requests
from cloudevents.http import CloudEvent

from marsaurora.config import Settings
from marsaurora.events import binary
from marsaurora.storage import Storage

ACCEPTED = (200, 202)


class ChainUnreachable(RuntimeError):
    """The broker did not take an event; the message says what it answered."""


def post_event(url: str, event: CloudEvent) -> None:
    """POST one event in binary mode to a broker ingress.

    Raises
    ------
    ChainUnreachable
        When the broker cannot be reached or does not accept the event.
    """
    headers, body = binary(event)
    try:
        response = requests.post(url, headers=dict(headers), data=body, timeout=10)
    except requests.RequestException as exc:
        raise ChainUnreachable(f"broker at {url} unreachable: {exc}") from None
    if response.status_code not in ACCEPTED:
        raise ChainUnreachable(f"broker at {url} refused the event ({response.status_code}): "
                               f"{response.text[:300]}")


class RemoteChain:
    """The bucket and broker of a deployed chain, seen from a client."""

    logs_hint = ("see the functions' logs on the cluster: kubectl logs "
                 "-l app.kubernetes.io/part-of=marsaurora -c function")

    def __init__(self, settings: Settings, broker_url: str) -> None:
        if not broker_url.startswith(("http://", "https://")):
            raise ValueError(f"--broker must be an http(s) URL, got {broker_url!r}")
        self.settings = settings
        self.broker_url = broker_url

    def storage(self) -> Storage:
        """A client of the chain's bucket (credentials from the environment)."""
        return Storage.from_settings(self.settings)

    def send(self, event: CloudEvent) -> None:
        """Hand one event to the broker."""
        post_event(self.broker_url, event)

    def latency_ms(self) -> None:
        """A remote broker does not tell per-hop latency."""
        return None
