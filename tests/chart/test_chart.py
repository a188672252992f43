"""The Helm chart, rendered offline by Helm's own engine and validated against real schemas.

Built-in kinds are checked with kubernetes-validate (strict: unknown fields
fail); Knative kinds against the openAPIV3Schema of the CRDs of the pinned
Knative release in ../shared/schemas/knative (skipped, with a reason, where
that folder is absent).
"""

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from marsaurora.events import FUNCTIONS

helm = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "marsaurora"
KNATIVE_SCHEMAS = ROOT.parent / "shared" / "schemas" / "knative"
KUBERNETES_VERSION = "1.31.0"
OFFLINE = {"knative": {"requireApis": False}}
VALUE_FILES = sorted((CHART / "ci").glob("*.yaml"))


def render(values: dict, namespace: str = "aurora") -> list[dict]:
    """Every object the chart renders for ``values`` (tests and hooks included)."""
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name="release", namespace=namespace, is_install=True)
    return [doc for path, text in sorted(rendered.items()) if path.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]


def _values(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def _knative_schemas() -> dict[tuple[str, str], dict]:
    if not KNATIVE_SCHEMAS.is_dir():
        pytest.skip(f"{KNATIVE_SCHEMAS} is absent: Knative CRD schemas are needed to validate "
                    "Services, Brokers and Triggers")
    schemas = {}
    for crd_file in KNATIVE_SCHEMAS.glob("*/*.yaml"):
        for crd in yaml.safe_load_all(crd_file.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schemas[(f"{group}/{version['name']}", kind)] = \
                    version["schema"]["openAPIV3Schema"]
    return schemas


def _as_pod(service: dict) -> dict:
    """A Knative Service's revision template as a core Pod, to check its pod spec strictly.

    Knative's CRD schema lets unknown fields through; the core Pod schema does
    not. Knative-only fields are dropped, and probes get the port Knative fills in.
    """
    spec = {k: v for k, v in service["spec"]["template"]["spec"].items()
            if k not in ("containerConcurrency", "timeoutSeconds", "idleTimeoutSeconds",
                         "responseStartTimeoutSeconds")}
    for container in spec["containers"]:
        for probe in ("readinessProbe", "livenessProbe"):
            if "httpGet" in container.get(probe, {}):
                container[probe]["httpGet"].setdefault("port", 8080)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "revision"}, "spec": spec}


def _of(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


@pytest.mark.parametrize("values_file", VALUE_FILES, ids=lambda p: p.stem)
def test_every_value_set_renders_to_valid_objects(values_file):
    objects = render(_values(values_file))
    knative = _knative_schemas()
    kinds = set()
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        kinds.add(obj["kind"])
        if key in knative:
            jsonschema.validate(obj, knative[key])
            if obj["kind"] == "Service":
                kubernetes_validate.validate(_as_pod(obj), KUBERNETES_VERSION, strict=True)
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    assert {"Service", "Broker", "Trigger", "Job", "Pod"} <= kinds


def test_at_least_three_value_sets_are_checked():
    assert {p.stem for p in VALUE_FILES} >= {"defaults", "external-s3", "gpu-detect"}


def test_lint_finds_no_errors():
    for values_file in VALUE_FILES:
        report = helm.lint(str(CHART), _values(values_file))
        assert report["errors"] == []
        assert not [m for m in report["messages"] if m["severity"] >= 2], report["messages"]


def test_triggers_and_broker_are_the_ones_in_eventing():
    objects = render(OFFLINE)
    source = [doc for name in ("broker.yaml", "triggers.yaml")
              for doc in yaml.safe_load_all((ROOT / "eventing" / name).read_text()) if doc]
    rendered = {(o["kind"], o["metadata"]["name"]): o for o in objects
                if o["kind"] in ("Broker", "Trigger")}
    assert set(rendered) == {(d["kind"], d["metadata"]["name"]) for d in source}
    for doc in source:
        twin = rendered[(doc["kind"], doc["metadata"]["name"])]
        assert twin["spec"] == doc["spec"]
        assert twin["metadata"]["namespace"] == "aurora"
        assert doc["metadata"]["labels"].items() <= twin["metadata"]["labels"].items()


def test_every_trigger_subscriber_is_a_rendered_service():
    objects = render(OFFLINE)
    services = {o["metadata"]["name"] for o in _of(objects, "Service")
                if o["apiVersion"].startswith("serving.knative.dev")}
    assert services == {f"aurora-{stage}" for stage in FUNCTIONS}
    for trigger in _of(objects, "Trigger"):
        assert trigger["spec"]["subscriber"]["ref"]["name"] in services
        assert trigger["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] in services


def test_secure_defaults():
    objects = render(OFFLINE)
    pods = [o["spec"]["template"]["spec"] for o in objects
            if o["kind"] in ("Service", "Deployment", "Job") and "template" in o["spec"]]
    pods += [o["spec"] for o in _of(objects, "Pod")]
    assert len(pods) == len(FUNCTIONS) + 3
    for pod in pods:
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert {**pod.get("securityContext", {}), **context}["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])
            assert "limits" in container["resources"] and "requests" in container["resources"]
            text = yaml.safe_dump(container)
            assert "secretAccessKey" not in text and "AWS_SECRET_ACCESS_KEY: " not in text
    for service in _of(objects, "Service"):
        if service["apiVersion"].startswith("serving.knative.dev"):
            assert service["metadata"]["labels"]["networking.knative.dev/visibility"] \
                == "cluster-local"
    policies = _of(objects, "NetworkPolicy")
    assert {p["metadata"]["name"] for p in policies} == {"aurora-stages", "aurora-minio"}


def test_gpu_detect_asks_for_a_gpu_and_only_detect_does():
    objects = render(_values(CHART / "ci" / "gpu-detect.yaml"))
    for service in _of(objects, "Service"):
        if not service["apiVersion"].startswith("serving.knative.dev"):
            continue
        spec = service["spec"]["template"]["spec"]
        container = spec["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        if service["metadata"]["name"] == "aurora-detect":
            assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
            assert env["AURORA_DETECT_DEVICE"] == "cuda"
            assert spec["tolerations"][0]["key"] == "nvidia.com/gpu"
            assert "marsaurora-detect" in container["image"]
        else:
            assert "nvidia.com/gpu" not in container["resources"].get("limits", {})
            assert "marsaurora-stage" in container["image"]


def test_detect_without_a_gpu_runs_on_the_cpu():
    """A pod that asked for no GPU has none: the CPU (and its int8 weights), even in the
    onnxruntime-gpu image whose provider list still names CUDA."""
    for service in _of(render(_values(CHART / "ci" / "defaults.yaml")), "Service"):
        if service["metadata"]["name"] == "aurora-detect":
            container = service["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["AURORA_DETECT_DEVICE"] == "cpu"
            return
    raise AssertionError("no aurora-detect service rendered")


def test_external_s3_uses_the_existing_secret_and_no_minio():
    objects = render(_values(CHART / "ci" / "external-s3.yaml"))
    assert not _of(objects, "Secret") and not _of(objects, "Deployment")
    detect = next(o for o in _of(objects, "Service") if o["metadata"]["name"] == "aurora-detect")
    env = {e["name"]: e for e in detect["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AURORA_S3_ENDPOINT"]["value"] == "https://s3.eu-central-1.amazonaws.com"
    assert env["AURORA_S3_INPUT_PREFIX"]["value"] == "incoming/"
    assert env["AURORA_DETECT_CONFIDENCE"]["value"] == "0.3"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == \
        "aurora-s3-credentials"


@pytest.mark.parametrize("values, message", [
    ({"stages": {"detect": {"gpu": {"enabled": "yes"}}}}, "/stages/detect/gpu/enabled"),
    ({"stages": {"detcet": {}}}, "detcet"),
    ({"s3": {"bucket": "Not_A_Bucket"}}, "/s3/bucket"),
    ({"pipeline": {"extraEnv": {"PATH": "/tmp"}}}, "PATH"),
    ({"pipeline": {"screen": "magic"}}, "/pipeline/screen"),
])
def test_values_against_the_schema_fail_readably(values, message):
    with pytest.raises(helm.HelmValuesError, match=message):
        render({**OFFLINE, **values})


def test_a_cluster_without_knative_is_told_what_to_install():
    with pytest.raises(helm.HelmRenderError, match="Install Knative Serving and Eventing v1.22"):
        render({})


def test_external_s3_without_credentials_is_refused():
    with pytest.raises(helm.HelmRenderError, match="s3.existingSecret"):
        render({**OFFLINE, "minio": {"enabled": False}})


def test_watcher_and_ingest_feed_the_broker():
    objects = render(_values(CHART / "ci" / "watcher-ingest.yaml"))
    [source] = _of(objects, "ContainerSource")
    assert source["spec"]["sink"]["ref"] == {"apiVersion": "eventing.knative.dev/v1",
                                             "kind": "Broker", "name": "aurora"}
    command = source["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["aurora", "watch", "https://archive.example.org/emm/data/emu/l2b/"]
    [binding] = _of(objects, "SinkBinding")
    assert binding["spec"]["subject"]["name"] == "aurora-ingest"
    minio = _of(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in minio["env"]}
    assert env["MINIO_NOTIFY_WEBHOOK_ENDPOINT_AURORA"].startswith("http://aurora-ingest.aurora.")
    queue = env["MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_AURORA"]
    mounts = {m["mountPath"] for m in _of(objects, "Deployment")[0]["spec"]["template"]["spec"][
        "containers"][0]["volumeMounts"]}
    assert any(queue.startswith(path + "/") for path in mounts), "the queue is on the volume"
    [job] = _of(objects, "Job")
    assert "arn:minio:sqs::AURORA:webhook" in job["spec"]["template"]["spec"]["containers"][0][
        "command"]


def test_an_enabled_watcher_needs_a_source():
    with pytest.raises(helm.HelmValuesError, match="/watcher/source"):
        render({**OFFLINE, "watcher": {"enabled": True}})


def test_the_watcher_may_reach_the_archive_but_not_cloud_metadata_or_private_ranges():
    objects = render(_values(CHART / "ci" / "watcher-ingest.yaml"))
    [policy] = [p for p in _of(objects, "NetworkPolicy") if p["metadata"]["name"].endswith(
        "watcher-egress")]
    assert policy["spec"]["policyTypes"] == ["Egress"]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == \
        "watcher"
    blocks = [rule for rule in policy["spec"]["egress"]
              if any("ipBlock" in peer for peer in rule.get("to", []))]
    (archive,) = blocks
    (block,) = archive["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "169.254.0.0/16" in block["ipBlock"]["except"]
    assert "10.0.0.0/8" in block["ipBlock"]["except"]
    assert sorted(p["port"] for p in archive["ports"]) == [80, 443]


def test_the_charts_list_of_functions_is_the_event_contracts():
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    listed = re.search(r'define "marsaurora.stages" -}}\s*(.*?)\s*{{-', helpers, re.S).group(1)
    assert tuple(listed.split()) == FUNCTIONS


def test_every_object_says_its_app_version():
    for document in render(OFFLINE):
        labels = document["metadata"].get("labels", {})
        if "helm.sh/chart" in labels:
            assert labels["app.kubernetes.io/version"] == "0.1.0"


def test_a_second_release_in_the_namespace_is_refused_in_words():
    checks = (CHART / "templates" / "checks.yaml").read_text()
    assert 'lookup "eventing.knative.dev/v1" "Broker" .Release.Namespace $fullname' in checks
    assert "--set fullnameOverride=" in checks


def _names(objects: list[dict]) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in objects}


def _references(objects: list[dict]) -> list[str]:
    """Every name one object uses to point at another (sinks, subscribers, brokers, secrets,
    claims, services in URLs)."""
    found = []

    def walk(node: object, key: str = "") -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name in ("ref", "subject", "secretRef", "persistentVolumeClaim",
                            "secretKeyRef") and isinstance(value, dict) and "name" in value:
                    found.append(value["name"])
                elif name in ("broker", "claimName") and isinstance(value, str):
                    found.append(value)
                walk(value, name)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif isinstance(node, str) and node.startswith("http://") and ".svc." in node:
            found.append(node.removeprefix("http://").split(".")[0])

    walk(objects)
    return found


def test_fullname_override_renames_every_object_and_every_reference():
    values = _values(CHART / "ci" / "watcher-ingest.yaml")
    default = render(values)
    renamed = render({**values, "fullnameOverride": "mars2"})
    assert {(k, "mars2" + n.removeprefix("aurora")) for k, n in _names(default)} == \
        _names(renamed)
    names = {name for _, name in _names(renamed)}
    references = _references(renamed)
    assert len(references) >= 20
    assert not [r for r in references if r.startswith("aurora")]
    assert set(references) <= names, set(references) - names
    for trigger in _of(renamed, "Trigger"):
        assert trigger["spec"]["broker"] == "mars2"


def test_name_override_sets_the_name_label():
    for document in render({**OFFLINE, "nameOverride": "aurora-b"}):
        labels = document["metadata"].get("labels", {})
        if "helm.sh/chart" in labels:
            assert labels["app.kubernetes.io/name"] == "aurora-b"
            assert document["metadata"]["name"].startswith("aurora-b")
