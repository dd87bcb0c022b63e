#!/usr/bin/env bash
# Release-day benchmark: EDGE_CLIENTS clients download the same cold blob
# at once through one freight edge, and then, against the same origin,
# through nginx as a caching reverse proxy with proxy_cache_lock on.
#
#   bench/edge.sh > report.md
#
# The origin (bench/edgeload origin) is a real Freight portal with the
# blob in its file blob store; every blob byte it sends, to the edge (its
# edge blob API) or to nginx (a plain /blob/<sha256> URL), passes one
# limiter of EDGE_RATE bytes/s, the uplink of a busy origin, and is
# counted. The load generator (bench/edgeload load) starts all clients at
# once and reports time to first byte and throughput; every 20th client
# checks the SHA-256 of what it received. Each server starts with an
# empty cache. Peak RSS is VmHWM of the edge process, and of the largest
# nginx process.
#
# Environment:
#   EDGE_SIZE     blob bytes (default 67108864 = 64 MiB)
#   EDGE_CLIENTS  concurrent clients (default 1000)
#   EDGE_RATE     origin uplink in bytes/s (default 8388608 = 8 MiB/s, so
#                 the fill of the default blob takes 8 s: longer than
#                 nginx's 5 s proxy_cache_lock_timeout, as any multi-GB
#                 file on a real uplink)
#   EDGE_DEADLINE clients still downloading after this are stopped and
#                 counted as unfinished (default 180s): nginx's waiters go
#                 to the origin uncached after 5 s, and 1000 full reads
#                 through an 8 MiB/s uplink would take days
#   NGINX_DEADLINE the same for the nginx run (default EDGE_DEADLINE): with
#                 a 1 GiB blob the edge needs about 20 minutes to send
#                 1,000 copies over loopback, while nginx's uncached
#                 waiters never finish, so its run can stop much sooner
#   EDGE_SEGMENTS parallel Range requests per client (default 1); with
#                 more, each client downloads as freight download and
#                 aria2 do, and checking clients assemble their segments
#                 in temporary files
#   EDGE_DIR      where the work directory goes (default /var/tmp)
#
# Needs nginx (apt-get install nginx-light). Prints Markdown on stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=${EDGE_SIZE:-67108864}
CLIENTS=${EDGE_CLIENTS:-1000}
RATE=${EDGE_RATE:-8388608}
DEADLINE=${EDGE_DEADLINE:-180s}
NGINX_DEADLINE=${NGINX_DEADLINE:-$DEADLINE}
SEGMENTS=${EDGE_SEGMENTS:-1}
WORK=$(mktemp -d "${EDGE_DIR:-/var/tmp}/freight-edge-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "$*" >&2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

log "building"
(cd "$ROOT" && go build -o "$WORK/freight" ./cmd/freight && go build -o "$WORK/edgeload" ./bench/edgeload)
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys; print(json.load(open('$1'))$2)"; }

log "starting the origin"
mkdir -p "$WORK/origin"
"$WORK/edgeload" origin -dir "$WORK/origin" -addr "127.0.0.1:$(freeport)" -size "$SIZE" -rate "$RATE" -grants "$CLIENTS" &
pids+=($!)
for _ in $(seq 1 600); do [ -f "$WORK/origin/setup.json" ] && break; sleep 0.1; done
ORIGIN=$(json "$WORK/origin/setup.json" "['origin']")
CRED=$(json "$WORK/origin/setup.json" "['credential']")
DIGEST=$(json "$WORK/origin/setup.json" "['sha256']")
stats() { curl -s "$ORIGIN/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["blob_bytes"])'; }
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }
busy() { uptime | sed 's/.*load average: //'; }

log "freight edge"
EPORT=$(freeport)
"$WORK/freight" edge --addr "127.0.0.1:$EPORT" --origin "$ORIGIN" --token "$CRED" --cache-dir "$WORK/edge-cache" \
  --cache-size 10GiB --public-url "http://127.0.0.1:$EPORT" --region bench --log-level warn 2>"$WORK/edge.log" &
EDGE_PID=$!
pids+=($EDGE_PID)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$EPORT/healthz" >/dev/null && break; sleep 0.1; done
before=$(stats)
load_edge_before=$(busy)
"$WORK/edgeload" load -base "http://127.0.0.1:$EPORT" -paths "$WORK/origin/setup.json" -clients "$CLIENTS" -segments "$SEGMENTS" -deadline "$DEADLINE" > "$WORK/edge.json"
edge_origin=$(( $(stats) - before ))
edge_rss=$(hwm $EDGE_PID)
kill $EDGE_PID; wait $EDGE_PID 2>/dev/null || true

log "nginx"
NPORT=$(freeport)
mkdir -p "$WORK/nginx/cache" "$WORK/nginx/logs"
# nginx's workers run as an unprivileged user when started as root.
chmod 755 "$WORK" && chmod 777 "$WORK/nginx/cache"
cat > "$WORK/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  proxy_cache_path $WORK/nginx/cache levels=1:2 keys_zone=blobs:10m max_size=10g inactive=1d use_temp_path=off;
  server {
    listen 127.0.0.1:$NPORT;
    location /d/ {
      # Every download URL names the one blob: the cache key is its digest.
      rewrite ^ /blob/$DIGEST break;
      proxy_pass $ORIGIN;
      proxy_cache blobs;
      proxy_cache_key $DIGEST;
      proxy_cache_valid 200 1d;
      proxy_cache_lock on;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
for _ in $(seq 1 50); do [ -s "$WORK/nginx/nginx.pid" ] && break; sleep 0.1; done
before=$(stats)
load_nginx_before=$(busy)
"$WORK/edgeload" load -base "http://127.0.0.1:$NPORT" -paths "$WORK/origin/setup.json" -clients "$CLIENTS" -segments "$SEGMENTS" -deadline "$NGINX_DEADLINE" > "$WORK/nginx.json"
nginx_origin=$(( $(stats) - before ))
for f in edge nginx; do
  e=$(json "$WORK/$f.json" ".get('first_error', '')")
  [ -n "$e" ] && log "$f: first failure: $e"
done
[ -s "$WORK/edge.log" ] && { log "edge log (last lines):"; grep -v "^Freight edge is listening" "$WORK/edge.log" | tail -5 >&2; }
[ -s "$WORK/nginx/logs/error.log" ] && { log "nginx error log:"; tail -5 "$WORK/nginx/logs/error.log" >&2; }
nginx_rss=0
for p in $(cat "$WORK/nginx/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx/nginx.pid")" || true); do
  r=$(hwm "$p" 2>/dev/null || echo 0); [ "$r" -gt "$nginx_rss" ] && nginx_rss=$r
done
kill "$(cat "$WORK/nginx/nginx.pid")"

row() {
  python3 - "$1" "$2" "$3" "$4" "$SIZE" <<'PY'
import json, sys
name, f, origin, rss, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
r = json.load(open(f))
print(f"| {name} | {origin/size:.3f} | {r['ttfb_p50_s']*1000:.0f} ms | {r['ttfb_p99_s']*1000:.0f} ms | {r['throughput_mb_s']:.0f} MB/s | {r['seconds']:.1f} s | {r['clients']-r['failures']-r['unfinished']}/{r['clients']} | {r['failures']} | {rss} MiB | {r['verified']-r['bad_digests']}/{r['verified']} |")
PY
}
echo "$CLIENTS clients ($SEGMENTS segments each), one cold blob of $SIZE bytes, origin uplink $RATE bytes/s, deadline $DEADLINE (nginx: $NGINX_DEADLINE), $(nproc) CPUs."
echo
echo "| server | origin bytes / blob size | TTFB p50 | TTFB p99 | aggregate throughput | wall time | clients done | failed | peak RSS | SHA-256 checked OK |"
echo "|---|---|---|---|---|---|---|---|---|---|"
row "freight edge" "$WORK/edge.json" "$edge_origin" "$edge_rss"
row "nginx proxy_cache_lock" "$WORK/nginx.json" "$nginx_origin" "$nginx_rss"
echo
echo "Load average before the runs: freight edge $load_edge_before; nginx $load_nginx_before."
