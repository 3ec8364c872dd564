#!/usr/bin/env bash
# The cluster suite: mixed clusters of sockio (the interop example with --redis-url) and
# Node (socket.io 4.8 + @socket.io/redis-adapter 8.x) servers on a private Redis, the
# Node emitter, a Redis restart (interop/cluster/cluster.test.js), connection state recovery
# across sockio and Node nodes on Redis Streams (interop/cluster/recovery.test.js), and the README's nginx
# configuration checked with `nginx -t`. Self-contained on a fresh Debian machine: installs
# redis-server and nginx from Debian's packages when missing (nginx: the check is skipped,
# and says so, when it cannot be installed), `npm ci` in interop/cluster.
#
#   scripts/cluster.sh                 everything
#   CLUSTER_TOPOLOGIES="SNS" scripts/cluster.sh   one topology (S = sockio, N = Node; "streams:SNS": on Redis Streams)
#   RECOVERY_PAIRS="SN" scripts/cluster.sh        recovery from a sockio node onto a Node one (default "SS SN NS")
#
# Every redis-server it uses is its own, on a free port (stopped and restarted by the
# restart test); the machine's Redis is never touched. Last line: "N passed, N failed".
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '\n==> %s\n' "$*"; }
PASS=0; FAIL=0

apt_install() { # packages... (their services are not started: policy-rc.d says no meanwhile)
  local prc=/usr/sbin/policy-rc.d ours=0 rc
  if [ ! -e $prc ]; then printf '#!/bin/sh\nexit 101\n' > $prc && chmod +x $prc && ours=1; fi
  { [ -n "${APT_UPDATED:-}" ] || apt-get update -qq; } && APT_UPDATED=1 \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" > /dev/null
  rc=$?
  [ $ours = 1 ] && rm -f $prc
  return $rc
}

# ------------------------------------------------------------------ redis-server
REDIS_SERVER=$(command -v redis-server || true)
if [ -z "$REDIS_SERVER" ]; then
  log "apt-get install redis-server"
  apt_install redis-server || { echo "cannot install redis-server" >&2; echo "0 passed, 1 failed"; exit 1; }
  REDIS_SERVER=$(command -v redis-server)
fi
# Debian's package starts a service on 6379: the suite uses its own servers only.
export REDIS_SERVER

# ------------------------------------------------------------------ nginx -t on the README's config
log "nginx -t on the README's load-balancer configuration"
conf=$(mktemp -d)
awk '/<!-- nginx-cluster-begin -->/{f=1; next} /<!-- nginx-cluster-end -->/{f=0} f' "$ROOT/README.md" \
  | sed '/^```/d' > "$conf/sockio.conf"
NGINX=$(command -v nginx || true)
if [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ]; then NGINX=/usr/sbin/nginx; fi
if [ -z "$NGINX" ]; then
  apt_install nginx-light || apt_install nginx || true
  NGINX=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
fi
if [ ! -s "$conf/sockio.conf" ]; then
  echo "FAIL: no nginx configuration between <!-- nginx-cluster-begin/end --> in README.md"; FAIL=$((FAIL + 1))
elif [ -z "$NGINX" ]; then
  echo "SKIPPED: nginx is not installed and could not be installed; the README's configuration was not checked"
else
  # the README's file goes where sites go: inside `http {}` of a minimal main configuration
  cat > "$conf/nginx.conf" <<NGINX
pid $conf/nginx.pid;
error_log $conf/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $conf; proxy_temp_path $conf; fastcgi_temp_path $conf;
  uwsgi_temp_path $conf; scgi_temp_path $conf;
  include $conf/sockio.conf;
}
NGINX
  if "$NGINX" -t -q -c "$conf/nginx.conf" -p "$conf"; then
    echo "ok: nginx -t accepts the README's configuration ($("$NGINX" -v 2>&1))"; PASS=$((PASS + 1))
  else
    echo "FAIL: nginx -t rejects the README's configuration"; FAIL=$((FAIL + 1))
  fi
fi
rm -rf "$conf"

# ------------------------------------------------------------------ node suite
cd "$ROOT/interop/cluster" || exit 1
stamp_ok() { [ -f "$2" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$(cat "$2")" ]; }
if ! stamp_ok package-lock.json node_modules/.cluster-stamp; then
  log "npm ci (interop/cluster)"
  npm ci --no-audit --no-fund || { echo "npm ci failed" >&2; echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
  sha256sum package-lock.json | cut -d' ' -f1 > node_modules/.cluster-stamp
fi

log "cargo build -p sockio --example interop"
(cd "$ROOT" && cargo build -q -p sockio --example interop) || { echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
export SOCKIO_NODE_BIN="$ROOT/target/debug/examples/interop"
mkdir -p "$ROOT/interop/results"
export CLUSTER_RESULTS="$ROOT/interop/results/cluster-restart.json"

log "cluster suite (topologies: ${CLUSTER_TOPOLOGIES:-SSS SNS NSN streams:SNS streams:NSN}; recovery: ${RECOVERY_PAIRS:-SS SN NS})"
out=$(mktemp)
timeout --kill-after=10 600 node --test-reporter=spec --test cluster.test.js recovery.test.js 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
p=$(grep -Eo '^ℹ pass [0-9]+' "$out" | awk '{print $3}' | tail -n1)
f=$(grep -Eo '^ℹ fail [0-9]+' "$out" | awk '{print $3}' | tail -n1)
rm -f "$out"
p=${p:-0}; f=${f:-0}
[ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
PASS=$((PASS + p)); FAIL=$((FAIL + f))
[ -f "$CLUSTER_RESULTS" ] && echo "Redis restart figures: $(cat "$CLUSTER_RESULTS" | tr -d '\n ')"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
