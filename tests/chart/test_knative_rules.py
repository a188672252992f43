"""Knative Serving's admission rules, applied to every Service the chart renders.

The CRD schemas accept any PodSpec field; Knative's webhook does not. It
copies each part of a Service's pod template through a field mask and
refuses the Service when the copy lacks a field that was set
(``apis.CheckDisallowedFields``). These are the masks of Serving v1.22.1
(``knative/serving`` tag ``knative-v1.22.1``), for its default feature flags
(``pkg/apis/config/features.go``, ``defaultFeaturesConfig``), from
``pkg/apis/serving/fieldmask.go``:

- ``PodSpecMask``: serviceAccountName, containers, volumes, imagePullSecrets,
  enableServiceLinks, automountServiceAccountToken (false only); affinity,
  topologySpreadConstraints, hostAliases, nodeSelector, runtimeClassName,
  tolerations, securityContext, shareProcessNamespace, priorityClassName,
  schedulerName, initContainers, dnsPolicy, dnsConfig, hostIPC, hostPID and
  hostNetwork only behind their flags (``kubernetes.podspec-*``), all
  disabled by default;
- ``ContainerMask``: name, args, command, env, workingDir, envFrom, image,
  imagePullPolicy, livenessProbe, ports, readinessProbe, resources,
  securityContext, startupProbe, terminationMessagePath,
  terminationMessagePolicy, volumeMounts;
- ``SecurityContextMask``: capabilities, readOnlyRootFilesystem, runAsUser,
  runAsGroup, runAsNonRoot, allowPrivilegeEscalation, seccompProfile,
  privileged (false only); ``CapabilitiesMask``: drop (add behind a flag);
- ``VolumeSourceMask``: secret, configMap, projected, and emptyDir
  (``kubernetes.podspec-emptydir``, enabled by default);
- ``VolumeMountMask``: name, readOnly, mountPath, subPath;
- ``ProbeMask`` and ``HandlerMask``: the handler (exec, httpGet, tcpSocket,
  grpc), initialDelaySeconds, timeoutSeconds, periodSeconds,
  successThreshold, failureThreshold, terminationGracePeriodSeconds.
"""

from pathlib import Path

import pytest
import yaml

from test_chart import CHART, OFFLINE, _values, render

POD_ALWAYS = {"serviceAccountName", "containers", "volumes", "imagePullSecrets",
              "enableServiceLinks", "automountServiceAccountToken"}
POD_BEHIND_FLAG = {"affinity": "kubernetes.podspec-affinity",
                   "topologySpreadConstraints": "kubernetes.podspec-topologyspreadconstraints",
                   "hostAliases": "kubernetes.podspec-hostaliases",
                   "nodeSelector": "kubernetes.podspec-nodeselector",
                   "runtimeClassName": "kubernetes.podspec-runtimeclassname",
                   "tolerations": "kubernetes.podspec-tolerations",
                   "securityContext": "kubernetes.podspec-securitycontext",
                   "shareProcessNamespace": "kubernetes.podspec-shareprocessnamespace",
                   "priorityClassName": "kubernetes.podspec-priorityclassname",
                   "schedulerName": "kubernetes.podspec-schedulername",
                   "initContainers": "kubernetes.podspec-init-containers",
                   "dnsPolicy": "kubernetes.podspec-dnspolicy",
                   "dnsConfig": "kubernetes.podspec-dnsconfig",
                   "hostIPC": "kubernetes.podspec-hostipc", "hostPID": "kubernetes.podspec-hostpid",
                   "hostNetwork": "kubernetes.podspec-hostnetwork"}
CONTAINER = {"name", "args", "command", "env", "workingDir", "envFrom", "image",
             "imagePullPolicy", "livenessProbe", "ports", "readinessProbe", "resources",
             "securityContext", "startupProbe", "terminationMessagePath",
             "terminationMessagePolicy", "volumeMounts"}
SECURITY = {"capabilities", "readOnlyRootFilesystem", "runAsUser", "runAsGroup", "runAsNonRoot",
            "allowPrivilegeEscalation", "seccompProfile", "privileged"}
VOLUME_SOURCES = {"secret", "configMap", "projected", "emptyDir"}
MOUNT = {"name", "readOnly", "mountPath", "subPath"}
PROBE = {"exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "timeoutSeconds",
         "periodSeconds", "successThreshold", "failureThreshold", "terminationGracePeriodSeconds"}


def refused_fields(pod: dict, flags: frozenset[str] = frozenset()) -> list[str]:
    """The fields of a Service's pod spec that Serving v1.22's masks drop under ``flags``."""
    refused = []
    for key, value in pod.items():
        if key in ("containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds",
                   "idleTimeoutSeconds"):
            continue
        if key == "automountServiceAccountToken" and value is not False:
            refused.append(key)
        elif key not in POD_ALWAYS and POD_BEHIND_FLAG.get(key) not in flags:
            refused.append(key)
    for container in pod.get("containers", []):
        name = container.get("name", "?")
        refused += [f"containers[{name}].{k}" for k in container if k not in CONTAINER]
        context = container.get("securityContext", {})
        refused += [f"containers[{name}].securityContext.{k}" for k in context
                    if k not in SECURITY or (k == "privileged" and context[k] is not False)]
        if "add" in context.get("capabilities", {}):
            refused.append(f"containers[{name}].securityContext.capabilities.add")
        for mount in container.get("volumeMounts", []):
            refused += [f"containers[{name}].volumeMounts.{k}" for k in mount if k not in MOUNT]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            refused += [f"containers[{name}].{probe}.{k}"
                        for k in container.get(probe, {}) if k not in PROBE]
    for volume in pod.get("volumes", []):
        refused += [f"volumes[{volume['name']}].{k}" for k in volume
                    if k != "name" and k not in VOLUME_SOURCES]
    return refused


def _knative_pods(values: dict) -> dict[str, dict]:
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in render(values)
            if o["kind"] == "Service" and o["apiVersion"].startswith("serving.knative.dev")}


VALUE_SETS = sorted((CHART / "ci").glob("*.yaml"))


@pytest.mark.parametrize("values_file", VALUE_SETS, ids=lambda p: p.stem)
def test_every_service_passes_servings_field_masks(values_file: Path):
    values = _values(values_file)
    gpu = ((values.get("stages") or {}).get("detect") or {}).get("gpu", {}).get("enabled")
    flags = frozenset({"kubernetes.podspec-nodeselector", "kubernetes.podspec-tolerations",
                       "kubernetes.podspec-runtimeclassname"}) if gpu else frozenset()
    pods = _knative_pods(values)
    assert pods
    for name, pod in pods.items():
        assert refused_fields(pod, flags) == [], f"Knative v1.22 refuses {name}"


def test_the_masks_would_have_refused_a_pod_security_context():
    pod = yaml.safe_load("""
        containers: [{name: f, image: x, securityContext: {runAsNonRoot: true}}]
        securityContext: {runAsNonRoot: true, runAsUser: 10001}
        nodeSelector: {gpu: "yes"}
    """)
    assert refused_fields(pod) == ["securityContext", "nodeSelector"]
    assert refused_fields(pod, frozenset(POD_BEHIND_FLAG.values())) == []


def test_a_gpu_detect_names_the_runtime_class_and_its_flags_are_documented():
    values = {**OFFLINE, "stages": {"detect": {"gpu": {"enabled": True,
                                                       "runtimeClassName": "nvidia"}}}}
    detect = _knative_pods(values)["aurora-detect"]
    assert detect["runtimeClassName"] == "nvidia"
    assert refused_fields(detect) == ["runtimeClassName"]
    text = (CHART / "values.yaml").read_text()
    for flag in ("kubernetes.podspec-runtimeclassname", "kubernetes.podspec-nodeselector",
                 "kubernetes.podspec-tolerations"):
        assert flag in text


def test_server_threads_follow_container_concurrency():
    for pod in _knative_pods(OFFLINE).values():
        (container,) = pod["containers"]
        assert container["args"][1:] == ["--threads", str(pod["containerConcurrency"])]
