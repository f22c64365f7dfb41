#!/usr/bin/env bash
# nginx for tests/charts/test_chart_proxy.py: the chart's path allow-list proxy run for real.
# Debian's nginx-light (the chart's proxy container runs nginx too); installed only when absent.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-nginx: nginx is missing and this is not root: run 'apt-get install nginx-light' (the proxy test skips locally and fails in CI)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
echo "install-nginx: $(/usr/sbin/nginx -v 2>&1)"
