#!/usr/bin/env bash
# Try the whole system on a laptop: a kind cluster with Knative Serving
# (+ Kourier) and Eventing (MT broker, in-memory channel) at the release
# whose schemas the chart is validated against, the two images built and
# loaded as kind.local/..., the chart installed, and `helm test` sending one
# synthetic observation through the chain.
#
#   scripts/kind-up.sh              # needs docker (or podman), kind, kubectl, helm
#   scripts/kind-up.sh --dry-run    # print every step instead of running it
#   scripts/kind-down.sh            # delete the cluster
#
# Override with environment variables: CLUSTER (marsaurora), NAMESPACE
# (aurora), ENGINE (docker or podman), SERVING_VERSION, KOURIER_VERSION,
# EVENTING_VERSION.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER="${CLUSTER:-marsaurora}"
NAMESPACE="${NAMESPACE:-aurora}"
ENGINE="${ENGINE:-docker}"
SERVING_VERSION="${SERVING_VERSION:-knative-v1.22.1}"
KOURIER_VERSION="${KOURIER_VERSION:-knative-v1.22.0}"
EVENTING_VERSION="${EVENTING_VERSION:-knative-v1.22.2}"
TAG="dev"
STAGE_IMAGE="kind.local/marsaurora-stage"
DETECT_IMAGE="kind.local/marsaurora-detect"
SERVING="https://github.com/knative/serving/releases/download/${SERVING_VERSION}"
KOURIER="https://github.com/knative-extensions/net-kourier/releases/download/${KOURIER_VERSION}"
EVENTING="https://github.com/knative/eventing/releases/download/${EVENTING_VERSION}"
DRY_RUN=0

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "kind-up.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

step() {
  printf '\n==> %s\n' "$*"
}

run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

need() {
  if [ "$DRY_RUN" = 0 ] && ! command -v "$1" >/dev/null 2>&1; then
    echo "kind-up.sh: '$1' is not installed; $2" >&2
    exit 1
  fi
}

need "$ENGINE" "install Docker or Podman (or set ENGINE)"
need kind "see https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "see https://kubernetes.io/docs/tasks/tools/"
need helm "see https://helm.sh/docs/intro/install/"
if [ "$ENGINE" = podman ]; then
  export KIND_EXPERIMENTAL_PROVIDER=podman
fi

step "kind cluster '$CLUSTER'"
if [ "$DRY_RUN" = 0 ] && kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  echo "cluster '$CLUSTER' exists; reusing it"
else
  run kind create cluster --name "$CLUSTER" --wait 120s
fi
run kubectl config use-context "kind-$CLUSTER"

step "Knative Serving $SERVING_VERSION with Kourier $KOURIER_VERSION"
run kubectl apply -f "$SERVING/serving-crds.yaml"
run kubectl wait --for=condition=Established --all crd --timeout=120s
run kubectl apply -f "$SERVING/serving-core.yaml"
run kubectl apply -f "$KOURIER/kourier.yaml"
run kubectl patch configmap/config-network --namespace knative-serving --type merge \
  --patch '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
# Images loaded into kind have no registry to resolve digests from.
run kubectl patch configmap/config-deployment --namespace knative-serving --type merge \
  --patch '{"data":{"registries-skipping-tag-resolving":"kind.local,ko.local,dev.local"}}'
run kubectl wait --for=condition=Available deployment --all --namespace knative-serving \
  --timeout=300s

step "Knative Eventing $EVENTING_VERSION (in-memory channel, MT channel-based broker)"
run kubectl apply -f "$EVENTING/eventing-crds.yaml"
run kubectl wait --for=condition=Established --all crd --timeout=120s
run kubectl apply -f "$EVENTING/eventing-core.yaml"
run kubectl apply -f "$EVENTING/in-memory-channel.yaml"
run kubectl apply -f "$EVENTING/mt-channel-broker.yaml"
run kubectl wait --for=condition=Available deployment --all --namespace knative-eventing \
  --timeout=300s

step "images: $STAGE_IMAGE:$TAG and $DETECT_IMAGE:$TAG (CPU detect)"
run "$ENGINE" build -f "$ROOT/containers/Containerfile" -t "$STAGE_IMAGE:$TAG" "$ROOT"
run "$ENGINE" build -f "$ROOT/containers/Containerfile.detect" \
  --build-arg BASE=docker.io/library/python:3.11-slim-bookworm \
  --build-arg ORT_PACKAGE=onnxruntime -t "$DETECT_IMAGE:$TAG" "$ROOT"
run kind load docker-image "$STAGE_IMAGE:$TAG" "$DETECT_IMAGE:$TAG" --name "$CLUSTER"

step "chart charts/marsaurora into namespace '$NAMESPACE'"
run helm upgrade --install marsaurora "$ROOT/charts/marsaurora" \
  --namespace "$NAMESPACE" --create-namespace \
  --set image.stage.repository="$STAGE_IMAGE" --set image.stage.tag="$TAG" \
  --set image.detect.repository="$DETECT_IMAGE" --set image.detect.tag="$TAG" \
  --set image.pullPolicy=Never --set minio.storage=2Gi --wait --timeout 10m
run kubectl wait --for=condition=Ready ksvc --all --namespace "$NAMESPACE" --timeout=600s
run kubectl wait --for=condition=Ready broker/aurora --namespace "$NAMESPACE" --timeout=300s
run kubectl wait --for=condition=Ready trigger --all --namespace "$NAMESPACE" --timeout=300s

step "helm test: one synthetic observation through the chain"
run helm test marsaurora --namespace "$NAMESPACE" --logs --timeout 10m

step "done"
echo "kubectl get ksvc,broker,trigger --namespace $NAMESPACE   # the chain"
echo "scripts/kind-down.sh                                     # delete the cluster"
