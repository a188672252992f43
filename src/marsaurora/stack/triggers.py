"""Read Knative ``Broker`` and ``Trigger`` manifests into routes the local broker follows.

Only what our manifests use is understood (exact ``filter.attributes``,
``subscriber.ref`` to a Service or ``subscriber.uri``, ``delivery`` with
``retry``, ``backoffPolicy``, ``backoffDelay`` and ``deadLetterSink``);
anything else is refused with a message instead of being silently ignored.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")
_SUPPORTED_TRIGGER_KEYS = {"broker", "filter", "subscriber", "delivery"}


class ManifestError(ValueError):
    """A manifest the local broker cannot follow."""


@dataclass(frozen=True)
class Delivery:
    """Knative's DeliverySpec: how often and how patiently to retry, and where to give up."""

    retry: int = 0
    backoff_policy: str = "exponential"
    backoff_delay_s: float = 0.2
    dead_letter_sink: str | None = None
    timeout_s: float | None = None
    """``delivery.timeout``: how long one attempt may take; None leaves the broker's own."""

    def backoff_s(self, retries_done: int) -> float:
        """Wait before the next retry when ``retries_done`` retries were made, as Knative does.

        Eventing v1.22 (pkg/kncloudevents/retries.go, RetryConfigFromDeliverySpec) computes
        ``delay * 2**n`` or ``delay * n``, and go-retryablehttp (client.go, Do) passes n = 0 for
        the first retry: exponential waits the delay first, linear retries at once.
        """
        if self.backoff_policy == "linear":
            return self.backoff_delay_s * retries_done
        return self.backoff_delay_s * 2 ** retries_done


@dataclass(frozen=True)
class Route:
    """One Trigger: events whose attributes match ``filter`` go to ``subscriber``."""

    name: str
    filter: dict[str, str]
    subscriber: str
    """A Service name (resolved to a local URL by the broker) or a URI."""
    delivery: Delivery

    def matches(self, attributes: dict[str, Any]) -> bool:
        """Knative's attribute filter: each value matched exactly, and an empty one matching
        any value the event sets (eventing v1.22, pkg/eventfilter/attributes/filter.go)."""
        return all(attributes.get(key) not in (None, "") if value == ""
                   else attributes.get(key) == value for key, value in self.filter.items())


def load_routes(folder: Path, broker_name: str) -> list[Route]:
    """Every Trigger on ``broker_name`` in the YAML files of ``folder``.

    Raises
    ------
    ManifestError
        For a Trigger using a feature the local broker does not implement.
    """
    documents = _documents(folder)
    broker = next((d for d in documents if d.get("kind") == "Broker"
                   and d.get("metadata", {}).get("name") == broker_name), None)
    broker_delivery = _delivery((broker or {}).get("spec", {}).get("delivery"), "Broker")
    routes = []
    for doc in documents:
        if doc.get("kind") != "Trigger":
            continue
        name = doc.get("metadata", {}).get("name", "?")
        spec = doc.get("spec", {})
        if spec.get("broker") != broker_name:
            continue
        unknown = set(spec) - _SUPPORTED_TRIGGER_KEYS
        if unknown:
            raise ManifestError(f"Trigger {name}: the local broker does not support "
                                f"{', '.join(sorted(unknown))}")
        attributes = (spec.get("filter") or {}).get("attributes") or {}
        delivery = (_delivery(spec["delivery"], f"Trigger {name}") if "delivery" in spec
                    else broker_delivery)
        routes.append(Route(name=name, filter={k: str(v) for k, v in attributes.items()},
                            subscriber=_destination(spec.get("subscriber"), f"Trigger {name}"),
                            delivery=delivery))
    if not routes:
        raise ManifestError(f"no Trigger on broker {broker_name!r} in {folder}")
    return routes


def parse_duration_s(text: str) -> float:
    """Seconds in an ISO-8601 duration such as ``PT0.5S`` or ``PT1M``."""
    match = _DURATION.match(text or "")
    if not match or text in ("P", "PT"):
        raise ManifestError(f"{text!r} is not an ISO-8601 duration like PT0.5S")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


DELIVERY_KEYS = frozenset({"retry", "backoffPolicy", "backoffDelay", "deadLetterSink", "timeout"})
"""The DeliverySpec keys the local broker implements; any other is refused, not ignored."""


def _documents(folder: Path) -> list[dict[str, Any]]:
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise ManifestError(f"no YAML manifests in {folder}")
    documents = []
    for path in files:
        with path.open(encoding="utf-8") as stream:
            documents.extend(d for d in yaml.safe_load_all(stream) if isinstance(d, dict))
    return documents


def _delivery(spec: dict[str, Any] | None, owner: str) -> Delivery:
    if not spec:
        return Delivery()
    unknown = sorted(set(spec) - DELIVERY_KEYS)
    if unknown:
        raise ManifestError(f"{owner}: delivery keys {unknown} are not implemented by the local "
                            f"broker (it knows {sorted(DELIVERY_KEYS)}); remove them or run on "
                            "Knative")
    policy = spec.get("backoffPolicy", "exponential")
    if policy not in ("exponential", "linear"):
        raise ManifestError(f"{owner}: backoffPolicy {policy!r} is not exponential or linear")
    sink = spec.get("deadLetterSink")
    sink_name = _destination(sink, f"{owner} deadLetterSink") if sink else None
    timeout = spec.get("timeout")
    return Delivery(retry=int(spec.get("retry", 0)), backoff_policy=policy,
                    backoff_delay_s=parse_duration_s(spec.get("backoffDelay", "PT0.2S")),
                    dead_letter_sink=sink_name,
                    timeout_s=parse_duration_s(timeout) if timeout else None)


def _destination(spec: dict[str, Any] | None, owner: str) -> str:
    if not isinstance(spec, dict):
        raise ManifestError(f"{owner}: needs a destination (ref or uri)")
    if spec.get("uri"):
        return str(spec["uri"])
    ref = spec.get("ref") or {}
    if ref.get("kind") != "Service" or not ref.get("name"):
        raise ManifestError(f"{owner}: only a Service ref or a uri can be followed locally")
    return str(ref["name"])
