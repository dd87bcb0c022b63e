#!/usr/bin/env bash
# Download benchmark: Freight's download origin against nginx (Debian,
# sendfile on) serving the same file, from the same page cache, on
# loopback; plus the BenchmarkGrant Go benchmark (grant issuance).
#
#   bench/download.sh > report.md        # 2 GiB, 1 stream and 64 streams
#
# What it does:
#   1. builds freight (./cmd/freight) and bench/download, generates the
#      file (bench/genfile: pseudo-random, incompressible);
#   2. starts "freight demo", publishes the file as an artifact of a new
#      stable release of product millwright (bench/download setup), deletes
#      the input and stops the portal, so that the peak RSS measured later
#      is that of serving downloads only, not of the upload;
#   3. restarts "freight demo" with --download-budget and
#      --download-start-window large enough for the load test, and asks
#      for DOWNLOAD_CONNS + 1 download URLs as customer globex: one grant
#      per load-test connection (each grant has its own byte budget, as
#      one customer's browser would) and one for the single stream;
#   4. starts nginx (-p prefix -c conf in the work directory, sendfile on,
#      tcp_nopush on, access_log off, worker_processes auto) whose root
#      holds a symlink to the very blob file Freight serves;
#   5. for each of DOWNLOAD_ROUNDS rounds (the order of the two servers
#      alternating): single stream, curl (median of DOWNLOAD_SINGLE runs,
#      the two servers interleaved); DOWNLOAD_CONNS streams with wrk for
#      DOWNLOAD_DURATION seconds; the same with DOWNLOAD_CONNS curl
#      processes that loop for DOWNLOAD_DURATION seconds;
#   6. counts the syscalls of one single-stream download of each server
#      with strace -c (after the measurements: strace slows its target);
#   7. stops the servers and runs BenchmarkGrant (-count DOWNLOAD_GOBENCH_COUNT).
#
# Before every measurement it waits until no other benchmark, CI run or
# go test runs (pgrep) and the CPUs are quiet, and reads the file once so
# that both servers send it from a warm page cache; a measurement during
# which such a process appeared is thrown away and taken again.
#
# Environment:
#   DOWNLOAD_SIZE          bytes of the file (default 2147483648 = 2 GiB)
#   DOWNLOAD_DIR           where the work directory goes (default /var/tmp)
#   DOWNLOAD_CONNS         concurrent streams of the load test (default 64)
#   DOWNLOAD_THREADS       wrk threads (default 2)
#   DOWNLOAD_DURATION      seconds of each load run (default 30)
#   DOWNLOAD_SINGLE        single-stream downloads per server per round (default 3)
#   DOWNLOAD_ROUNDS        rounds (default 3)
#   DOWNLOAD_CURL_LOAD     also run the curl-process load test (default 1)
#   DOWNLOAD_STRACE        count syscalls with strace (default 1, if installed)
#   DOWNLOAD_GOBENCH_COUNT BenchmarkGrant -count (default 5; 0 = skip)
#   DOWNLOAD_NGINX_EXTRA   more directives for nginx's http block, such as
#                          "sendfile_max_chunk 0;" (default: none)
#   DOWNLOAD_FREIGHT_BIN   a freight binary to measure instead of building one
#   DOWNLOAD_QUIET_WAIT    most seconds to wait for quiet before a
#                          measurement (default 3600), then it fails;
#                          0 = no waiting and no contention check (to try
#                          the script out: its figures are worthless)
#   DOWNLOAD_QUIET_BUSY    quiet: at most this % of all CPUs busy for 3 s (default 15)
#
# Needs nginx, wrk, curl (apt-get install nginx-light wrk curl; strace for
# step 6), about 3 x DOWNLOAD_SIZE free on DOWNLOAD_DIR and as much free
# memory. Prints a Markdown report on stdout; progress goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=${DOWNLOAD_SIZE:-2147483648}
BASE=${DOWNLOAD_DIR:-/var/tmp}
CONNS=${DOWNLOAD_CONNS:-64}
THREADS=${DOWNLOAD_THREADS:-2}
DURATION=${DOWNLOAD_DURATION:-30}
SINGLE=${DOWNLOAD_SINGLE:-3}
ROUNDS=${DOWNLOAD_ROUNDS:-3}
CURL_LOAD=${DOWNLOAD_CURL_LOAD:-1}
STRACE=${DOWNLOAD_STRACE:-1}
GOBENCH_COUNT=${DOWNLOAD_GOBENCH_COUNT:-5}
QUIET_WAIT=${DOWNLOAD_QUIET_WAIT:-3600}
QUIET_BUSY=${DOWNLOAD_QUIET_BUSY:-15}
NGINX_EXTRA=${DOWNLOAD_NGINX_EXTRA:-}
# Processes that make a measurement worthless while they run. The
# brackets keep the pattern from matching a shell whose command line
# merely contains it.
CONTENDERS='upload[.]sh|series[.]sh|[.]ci/run|go [t]est'

log() { printf '%s download-bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
now_ns() { date +%s%N; }
cpu_ticks() { awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }
HZ=$(getconf CLK_TCK)
# proc_cpu PID...: user+system CPU seconds of running processes, summed.
proc_cpu() {
	local p t=0
	for p in "$@"; do
		[[ -r /proc/$p/stat ]] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	calc "$t / $HZ" 2
}
# rss_kib FIELD PID...: VmRSS or VmHWM of processes in KiB, summed.
rss_kib() {
	local f=$1 p t=0 v
	shift
	for p in "$@"; do
		v=$(awk -v f="$f:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
contenders() { pgrep -af -- "$CONTENDERS" | grep -v "^$$ " || true; }

# wait_quiet: wait until no contender runs and the CPUs were quiet for
# three seconds in a row, polling contenders every 30 s.
wait_quiet() {
	local start=$SECONDS quiet=0 b0 t0 b1 t1 pct c
	(( QUIET_WAIT > 0 )) || return 0
	while :; do
		c=$(contenders)
		if [[ -n $c ]]; then
			log "waiting for: $(tr '\n' ';' <<<"$c" | cut -c1-200)"
			(( SECONDS - start < QUIET_WAIT )) || die "still busy after ${QUIET_WAIT}s"
			sleep 30
			continue
		fi
		read -r b0 t0 < <(cpu_ticks)
		quiet=0
		while (( quiet < 3 )); do
			sleep 1
			read -r b1 t1 < <(cpu_ticks)
			pct=$(calc "100 * ($b1 - $b0) / ($t1 - $t0 + ($t1 == $t0))" 0)
			b0=$b1 t0=$t1
			if (( pct <= QUIET_BUSY )); then quiet=$((quiet + 1)); else break; fi
		done
		(( quiet >= 3 )) && [[ -z $(contenders) ]] && return 0
		(( SECONDS - start < QUIET_WAIT )) || die "CPU still busy ($pct%) after ${QUIET_WAIT}s"
		sleep 5
	done
}

# warm: read the blob into the page cache (idle cache may be reclaimed on
# this VM, so this comes right before each measurement).
warm() {
	cat "$BLOB" >/dev/null
	if command -v fincore >/dev/null; then
		WARM=$(fincore --bytes --noheadings --output RES "$BLOB" | awk -v s="$SIZE" '{ printf "%.0f%%", 100 * $1 / (s + (s == 0)) }')
	else
		WARM="read once"
	fi
}

# guarded CMD...: wait for quiet, warm, run CMD; if a contender showed up
# meanwhile, run it again (at most 3 times).
guarded() {
	local try
	for try in 1 2 3; do
		wait_quiet
		warm
		CONTENDED=0
		"$@"
		if (( QUIET_WAIT == 0 )) || [[ -z $(contenders) ]]; then
			return 0
		fi
		CONTENDED=1
		log "another benchmark or test started during the measurement; taking it again"
	done
	log "measured under contention three times; keeping the last, marked"
}

command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx-light)"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
mkdir -p "$BASE"
avail_kib=$(df -Pk "$BASE" | awk 'NR==2 { print $4 }')
need_kib=$(( (3 * SIZE + (1 << 30)) / 1024 ))
(( avail_kib >= need_kib )) || die "$BASE has $((avail_kib >> 20)) GiB free; the benchmark needs $((need_kib >> 20)) GiB"

WORK=$(mktemp -d "$BASE/freight-download-bench.XXXXXX")
FREIGHT_PID= NGINX_PID= SAMPLER_PID=
stop() { # stop PID: SIGTERM, then wait for it
	if [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; then
		kill "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
	fi
}
cleanup() {
	stop "$SAMPLER_PID"
	stop "$FREIGHT_PID"
	stop "$NGINX_PID"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log "work directory $WORK"

log "building"
if [[ -n ${DOWNLOAD_FREIGHT_BIN:-} ]]; then
	cp "$DOWNLOAD_FREIGHT_BIN" "$WORK/freight"
else
	(cd "$ROOT" && go build -o "$WORK/freight" ./cmd/freight)
fi
(cd "$ROOT" && go build -o "$WORK/download" ./bench/download && go build -o "$WORK/genfile" ./bench/genfile)

DATA=$WORK/data
# start_freight ARGS...: run "freight demo" in the background and wait
# for demo.json to name its URL.
start_freight() {
	rm -f "$WORK/freight.out"
	"$WORK/freight" demo --addr 127.0.0.1:0 --data-dir "$DATA" "$@" >"$WORK/freight.out" 2>>"$WORK/freight.log" &
	FREIGHT_PID=$!
	for _ in $(seq 600); do
		grep -q 'Freight demo is running at' "$WORK/freight.out" 2>/dev/null && break
		kill -0 "$FREIGHT_PID" 2>/dev/null || { tail -n 20 "$WORK/freight.log" >&2; die "freight exited"; }
		sleep 0.1
	done
	FREIGHT_URL=$(sed -n 's/^Freight demo is running at \(http[^[:space:]]*\).*/\1/p' "$WORK/freight.out")
	[[ -n $FREIGHT_URL ]] || die "freight did not start in 60s"
}

log "generating $SIZE bytes"
"$WORK/genfile" -size "$SIZE" -out "$WORK/input.bin"
start_freight
log "publishing the file on $FREIGHT_URL (freight $FREIGHT_PID)"
PUB=$("$WORK/download" setup -demo "$DATA/demo.json" -file "$WORK/input.bin") || die "setup failed"
log "published: $PUB"
rm -f "$WORK/input.bin"
stop "$FREIGHT_PID"
FREIGHT_PID=
jget() { sed -E 's/.*"'"$2"'":("([^"]*)"|([^,}]*)).*/\2\3/' <<<"$1"; }
ARTIFACT=$(jget "$PUB" artifact_id)
FILENAME=$(jget "$PUB" filename)
DIGEST=$(jget "$PUB" sha256)
BLOB=$DATA/blobs/sha256/${DIGEST:0:2}/$DIGEST
[[ -f $BLOB ]] || die "no blob at $BLOB"
[[ $(stat -c %s "$BLOB") == "$SIZE" ]] || die "the blob has $(stat -c %s "$BLOB") bytes, not $SIZE"

FREIGHT_FLAGS=(--download-budget 10000 --download-start-window 1h)
start_freight "${FREIGHT_FLAGS[@]}"
log "freight $FREIGHT_PID at $FREIGHT_URL ${FREIGHT_FLAGS[*]}"
"$WORK/download" grants -demo "$DATA/demo.json" -artifact "$ARTIFACT" -n $((CONNS + 1)) >"$WORK/urls.txt" || die "asking for download URLs failed"
FREIGHT_SINGLE_URL=$(head -n1 "$WORK/urls.txt")
# Freight's memory before any download: the demo's start verifies the
# three demo passwords (argon2id, 19 MiB each), which VmHWM keeps.
START_HWM_KIB=$(rss_kib VmHWM "$FREIGHT_PID")
START_RSS_KIB=$(rss_kib VmRSS "$FREIGHT_PID")
log "freight before downloads: VmRSS $(calc "$START_RSS_KIB / 1024" 1) MiB, VmHWM $(calc "$START_HWM_KIB / 1024" 1) MiB"
tail -n +2 "$WORK/urls.txt" | sed "s#^$FREIGHT_URL##" >"$WORK/freight-paths.txt"

# nginx: the same blob, through a symlink named as the artifact.
NGINX_PORT=
for p in $(seq 18180 18280); do
	if [[ -z $(ss -Hltn "sport = :$p") ]]; then NGINX_PORT=$p; break; fi
done
[[ -n $NGINX_PORT ]] || die "no free port for nginx"
NGX=$WORK/nginx
mkdir -p "$NGX/www" "$NGX/logs" "$NGX/tmp"
ln -s "$BLOB" "$NGX/www/$FILENAME"
cat >"$NGX/nginx.conf" <<EOF
# bench/download.sh: nginx serving the blob Freight serves.
daemon off;
user root;
worker_processes auto;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections 1024; }
http {
    sendfile on;
    tcp_nopush on;
    access_log off;
    keepalive_requests 100000;
    default_type application/octet-stream;
$(if [[ -n $NGINX_EXTRA ]]; then printf '    %s\n' "$NGINX_EXTRA"; fi)
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $NGX/www;
    }
}
EOF
nginx -p "$NGX" -c "$NGX/nginx.conf" -t 2>>"$WORK/nginx.test" || { cat "$WORK/nginx.test" >&2; die "nginx -t failed"; }
nginx -p "$NGX" -c "$NGX/nginx.conf" &
NGINX_PID=$!
NGINX_URL=http://127.0.0.1:$NGINX_PORT
NGINX_SINGLE_URL=$NGINX_URL/$FILENAME
echo "/$FILENAME" >"$WORK/nginx-paths.txt"
for _ in $(seq 100); do
	curl -sf -o /dev/null -r 0-0 "$NGINX_SINGLE_URL" && break
	kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited"
	sleep 0.1
done
nginx_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID"); }
log "nginx $NGINX_PID (workers: $(pgrep -P "$NGINX_PID" | tr '\n' ' ')) at $NGINX_URL"

# Both servers must send the same bytes: check the first and last MiB.
for u in "$NGINX_SINGLE_URL" "$FREIGHT_SINGLE_URL"; do
	code=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -r 0-0 "$u")
	[[ $code == "206 1" ]] || die "a ranged GET of $u answered $code"
done
[[ $(curl -s -r 0-1048575 "$NGINX_SINGLE_URL" | sha256sum) == "$(head -c 1048576 "$BLOB" | sha256sum)" ]] || die "nginx sends other bytes"
[[ $(curl -s -r 0-1048575 "$FREIGHT_SINGLE_URL" | sha256sum) == "$(head -c 1048576 "$BLOB" | sha256sum)" ]] || die "freight sends other bytes"

# sampler OUT PID...: every second, the largest VmRSS sum seen so far, in KiB.
sampler() {
	local out=$1 max=0 v
	shift
	echo 0 >"$out"
	while :; do
		v=$(rss_kib VmRSS "$@")
		(( v > max )) && { max=$v; echo "$max" >"$out"; }
		sleep 1
	done
}

# single URL: one curl download; sets SPEED (MB/s).
single() {
	local r
	r=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$1")
	read -r code bytes speed <<<"$r"
	[[ $code == 200 && $bytes == "$SIZE" ]] || die "curl $1: $r"
	SPEED=$(calc "$speed / 1e6" 1)
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# load_run NAME TOOL: one load test of server NAME (freight|nginx) with
# TOOL (wrk|curl); sets MBPS, CPU_SERVER, CPU_ALL, RSS_MAX_KIB, ERRS.
load_run() {
	local name=$1 tool=$2 base paths pids b0 b1 s0 s1 t0 t1 out
	if [[ $name == freight ]]; then
		base=$FREIGHT_URL paths=$WORK/freight-paths.txt pids=$FREIGHT_PID
	else
		base=$NGINX_URL paths=$WORK/nginx-paths.txt pids=$(nginx_pids)
	fi
	sampler "$WORK/rss.max" $pids &
	SAMPLER_PID=$!
	read -r b0 _ < <(cpu_ticks)
	s0=$(proc_cpu $pids)
	t0=$(now_ns)
	if [[ $tool == wrk ]]; then
		out=$(wrk -c "$CONNS" -t "$THREADS" -d "${DURATION}s" --timeout 600s \
			-s "$ROOT/bench/download/roundrobin.lua" "$base" -- "$paths" $((CONNS / THREADS)))
		t1=$(now_ns)
		echo "$out" >>"$WORK/wrk.log"
		local res bytes us
		res=$(grep '^RESULT ' <<<"$out") || die "wrk printed no result: $out"
		bytes=$(sed -E 's/.*bytes=([0-9]+).*/\1/' <<<"$res")
		us=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$res")
		ERRS=$(awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] ~ /errors$/) e += kv[2] } } END { print e + 0 }' <<<"$res")
		MBPS=$(calc "$bytes / $us" 1) # bytes per microsecond = MB/s
		REQS=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$res")
	else
		# CONNS processes, each downloading in a loop until the deadline.
		local deadline=$((t0 + DURATION * 1000000000)) k
		local workers=()
		mapfile -t plist <"$paths"
		for ((k = 0; k < CONNS; k++)); do
			(
				u=$base${plist[k % ${#plist[@]}]} total=0 errs=0 n=0
				while :; do
					left=$(( deadline - $(now_ns) ))
					(( left > 20000000 )) || break
					r=$(curl -s -o /dev/null -m "$(calc "$left / 1e9" 3)" -w '%{http_code} %{size_download}' "$u" || true)
					read -r code bytes <<<"$r"
					[[ $code == 200 ]] || errs=$((errs + 1))
					total=$((total + ${bytes:-0})) n=$((n + 1))
				done
				echo "$total $errs $n" >"$WORK/curl.$k"
			) &
			workers+=($!)
		done
		wait "${workers[@]}"
		t1=$(now_ns)
		read -r bytes ERRS REQS < <(cat "$WORK"/curl.* | awk '{ b += $1; e += $2; n += $3 } END { print b, e, n }')
		rm -f "$WORK"/curl.*
		MBPS=$(calc "$bytes * 1000 / ($t1 - $t0)" 1)
	fi
	s1=$(proc_cpu $pids)
	read -r b1 _ < <(cpu_ticks)
	stop "$SAMPLER_PID"
	SAMPLER_PID=
	RSS_MAX_KIB=$(cat "$WORK/rss.max")
	CPU_SERVER=$(calc "$s1 - $s0" 1)
	CPU_ALL=$(calc "($b1 - $b0) / $HZ" 1)
	log "$tool $name: $MBPS MB/s, $REQS requests, $ERRS errors, max RSS $(calc "$RSS_MAX_KIB / 1024" 1) MiB, server ${CPU_SERVER} CPU-s of ${CPU_ALL} CPU-s busy (page cache $WARM)"
	[[ $ERRS == 0 ]] || die "$tool $name: $ERRS errors"
}

# mark FLAGS: " CONTENDED" when any flag is 1 (always succeeds: set -e).
mark() { if [[ $1 == *1* ]]; then echo ' CONTENDED'; fi; }
ROWS=() CPUROWS=() R_single=() R_wrk=() R_curl=()
DATE=$(date -u +%Y-%m-%dT%H:%MZ)
GIB=$(calc "$SIZE / 1073741824" 2)
for ((round = 1; round <= ROUNDS; round++)); do
	if (( round % 2 )); then order=(nginx freight); else order=(freight nginx); fi

	# Single stream, the servers interleaved.
	single_set() {
		SP_nginx=() SP_freight=()
		local i s
		for ((i = 0; i < SINGLE; i++)); do
			for s in "${order[@]}"; do
				if [[ $s == nginx ]]; then single "$NGINX_SINGLE_URL"; SP_nginx+=("$SPEED")
				else single "$FREIGHT_SINGLE_URL"; SP_freight+=("$SPEED"); fi
			done
		done
	}
	guarded single_set
	n1=$(printf '%s\n' "${SP_nginx[@]}" | median)
	f1=$(printf '%s\n' "${SP_freight[@]}" | median)
	log "round $round curl 1 stream: nginx ${SP_nginx[*]} (median $n1), freight ${SP_freight[*]} (median $f1) MB/s"
	R_single+=("$(calc "$f1 / $n1" 2)")
	ROWS+=("| $DATE | $GIB GiB | curl, 1 stream, median of $SINGLE (round $round) | $n1 | $f1 | $(calc "$f1 / $n1" 2) | $(calc "$(rss_kib VmHWM "$FREIGHT_PID") / 1024" 1) (VmHWM so far) | $(calc "$(rss_kib VmRSS $(nginx_pids)) / 1024" 1) | ${SP_nginx[*]} / ${SP_freight[*]}$(mark "$CONTENDED") |")

	tools=(wrk)
	[[ $CURL_LOAD == 1 ]] && tools+=(curl)
	for tool in "${tools[@]}"; do
		# The two servers are measured as a pair, back to back: when
		# another process turns up during either, both are taken again.
		pair() {
			local s
			PAIR_CPU=()
			for s in "${order[@]}"; do
				warm
				load_run "$s" "$tool"
				declare -g "MB_$s=$MBPS" "RSS_$s=$RSS_MAX_KIB" "REQ_$s=$REQS"
				PAIR_CPU+=("| $tool, $CONNS streams (round $round) | $s | $MBPS | $CPU_SERVER | $CPU_ALL | $(calc "$CPU_SERVER * 1000 / ($MBPS * $DURATION)" 3) |")
			done
		}
		guarded pair
		CPUROWS+=("${PAIR_CPU[@]}")
		if [[ $tool == wrk ]]; then R_wrk+=("$(calc "$MB_freight / $MB_nginx" 2)"); else R_curl+=("$(calc "$MB_freight / $MB_nginx" 2)"); fi
		[[ $tool == wrk ]] && label="wrk -c $CONNS -t $THREADS -d ${DURATION}s" || label="$CONNS curl processes, ${DURATION}s"
		ROWS+=("| $DATE | $GIB GiB | $label (round $round) | $MB_nginx | $MB_freight | $(calc "$MB_freight / $MB_nginx" 2) | $(calc "$RSS_freight / 1024" 1) (max VmRSS) | $(calc "$RSS_nginx / 1024" 1) | requests: nginx $REQ_nginx, freight $REQ_freight$(mark "$CONTENDED") |")
	done
done
HWM_KIB=$(rss_kib VmHWM "$FREIGHT_PID")
NGINX_HWM_KIB=$(rss_kib VmHWM $(nginx_pids))
log "freight VmHWM $(calc "$HWM_KIB / 1024" 1) MiB; nginx VmHWM (master + workers) $(calc "$NGINX_HWM_KIB / 1024" 1) MiB"

# Syscalls of one single-stream download of each server.
STRACE_OUT=
if [[ $STRACE == 1 ]] && command -v strace >/dev/null; then
	strace_one() { # NAME URL PID...
		local name=$1 url=$2 args=() p sp
		shift 2
		for p in "$@"; do args+=(-p "$p"); done
		strace -c -f -o "$WORK/strace.$name" "${args[@]}" 2>/dev/null &
		sp=$!
		sleep 1
		single "$url"
		sleep 0.5
		kill -INT "$sp" 2>/dev/null || true
		wait "$sp" 2>/dev/null || true
		STRACE_OUT+="$name (single curl download under strace: $SPEED MB/s):"$'\n'
		STRACE_OUT+=$(grep -E 'calls|-----|sendfile|splice|copy_file_range|write|read|epoll|futex|total' "$WORK/strace.$name" || true)
		STRACE_OUT+=$'\n\n'
	}
	wait_quiet
	warm
	strace_one freight "$FREIGHT_SINGLE_URL" "$FREIGHT_PID"
	strace_one nginx "$NGINX_SINGLE_URL" $(pgrep -P "$NGINX_PID")
fi
stop "$FREIGHT_PID"
FREIGHT_PID=
stop "$NGINX_PID"
NGINX_PID=

GOBENCH=
if (( GOBENCH_COUNT > 0 )); then
	wait_quiet
	log "BenchmarkGrant"
	GOBENCH=$(cd "$ROOT" && go test -run '^$' -bench BenchmarkGrant -benchmem -count "$GOBENCH_COUNT" ./server 2>&1) || die "go test: $GOBENCH"
	log "$(grep -E '^Benchmark' <<<"$GOBENCH" | tr '\n' ';')"
fi

# The report.
# verdict OP LIMIT VALUE...: "met" when every VALUE is OP LIMIT.
verdict() {
	local op=$1 lim=$2
	shift 2
	printf '%s\n' "$@" | awk -v op="$op" -v t="$lim" '{ if ((op == ">=" && !($1 >= t)) || (op == "<" && !($1 < t))) bad = 1 } END { print bad ? "**MISSED**" : "met" }'
}
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cat <<EOF
### Results

| date | file size | tool | nginx MB/s | Freight MB/s | Freight/nginx | Freight RSS MiB | nginx RSS MiB | notes (single: every run, nginx / Freight; load: requests, wrk counts completed ones, curl begun ones) |
|---|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${ROWS[@]}")

Freight's peak RSS over the whole run (VmHWM after all rounds, since its
restart before the downloads): **$(calc "$HWM_KIB / 1024" 1) MiB**; before the
first download it was $(calc "$START_RSS_KIB / 1024" 1) MiB resident, VmHWM
$(calc "$START_HWM_KIB / 1024" 1) MiB (the demo's start-up). nginx
master + workers, summed VmHWM: $(calc "$NGINX_HWM_KIB / 1024" 1) MiB. RSS in
the load rows is the largest VmRSS sampled every second during the run
(nginx: master + workers summed). MB = 10^6 bytes. Both servers send the
same file (Freight's blob; nginx through a symlink to it) from a warm page
cache: it is read once before each measurement (page cache residency at the
last measurement: $WARM).

CPU during the load runs (CPU-s over the run; the machine has $(nproc) CPUs,
so $(( $(nproc) * DURATION )) CPU-s at most; the rest of "machine busy" is the
load tool and the kernel's loopback path on the client side):

| run | server | MB/s | server CPU-s | machine busy CPU-s | server CPU-ms per MB |
|---|---|---|---|---|---|
$(printf '%s\n' "${CPUROWS[@]}")

### Targets

- Freight/nginx, 1 stream (curl), per round: ${R_single[*]}: $(verdict '>=' 0.9 "${R_single[@]}") (target at least 0.9)
- Freight/nginx, $CONNS streams (wrk), per round: ${R_wrk[*]}: $(verdict '>=' 0.9 "${R_wrk[@]}") (target at least 0.9)$(if [[ ${#R_curl[@]} -gt 0 ]]; then printf '\n- Freight/nginx, %s streams (curl processes, cross-check), per round: %s: %s' "$CONNS" "${R_curl[*]}" "$(verdict '>=' 0.9 "${R_curl[@]}")"; fi)
- Freight peak RSS (VmHWM) with $CONNS streams: $(calc "$HWM_KIB / 1024" 1) MiB: $(verdict '<' 100 "$(calc "$HWM_KIB / 1024" 1)") (target under 100 MiB)

### Machine

$(nproc) CPUs, $cpu_model; Linux $(uname -r); $(free -g | awk '/^Mem:/ { print $2 }') GiB memory;
$(go version | cut -d' ' -f3-); $(nginx -v 2>&1 | sed 's/^nginx version: //'); $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2); $(curl --version | head -n1 | cut -d' ' -f1-2).
Filesystem of the blob: $(df -T "$BASE" | awk 'NR==2 { print $2 }').
EOF
printf '\n### nginx configuration (paths in the run'"'"'s work directory)\n\n```nginx\n%s\n```\n' "$(cat "$NGX/nginx.conf")"
if [[ -n $STRACE_OUT ]]; then
	printf '\n### Syscalls (strace -c -f)\n\n```\n%s```\n' "$STRACE_OUT"
fi
if [[ -n $GOBENCH ]]; then
	printf '\n### BenchmarkGrant\n\n```\n%s\n```\n' "$(grep -E '^(goos|goarch|pkg|cpu|Benchmark)' <<<"$GOBENCH")"
fi
