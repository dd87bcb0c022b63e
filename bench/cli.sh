#!/usr/bin/env bash
# Command-line client benchmark: "freight download" against curl fetching
# the same file from the same Freight origin, and "freight publish"
# against bench/upload sending the same file to the same portal, in the
# same run, runs interleaved.
#
#   bench/cli.sh > report.md             # 4 GiB, 3 rounds
#   CLI_SIZE=$((2<<30)) CLI_ROUNDS=5 bench/cli.sh
#
# What it does:
#   1. builds freight (./cmd/freight), bench/download, bench/upload and
#      bench/genfile, and generates the file (pseudo-random, incompressible);
#   2. starts "freight demo" (--download-budget and --download-start-window
#      large enough for every run to use one URL) and publishes the file as
#      millwright 9.0.0 with bench/download setup; asks for one download
#      URL as customer globex, for curl;
#   3. for each of CLI_ROUNDS rounds, the order rotating from round to
#      round, downloads the file into the work directory (same filesystem
#      as the blob) with:
#        curl -s -o OUT URL                                  (1 stream)
#        curl -s -o OUT URL && sha256sum OUT                 (1 stream, verified)
#        freight download … --segments 1 --output OUT        (1 stream)
#        freight download … --segments 8 --output OUT        (8 streams)
#      freight download also asks the catalogue and the grant, fsyncs its
#      part file with every progress save and at the end, verifies the
#      SHA-256 and renames the file: all of that is in its time. curl only
#      writes the bytes;
#   4. for each round, publishes the file (under a new version) with
#        freight publish --concurrency 8                   and
#        bench/upload -parallel 8                          (alternating first)
#      both as whole processes: each hashes the file, creates the artifact,
#      sends the parts and completes (the server verifies the SHA-256);
#   5. prints every run and the medians as Markdown.
#
# Throughput is bytes / wall time of the whole process, MB = 10^6 bytes.
# Before every run: a wait of up to CLI_QUIET_WAIT seconds for the CPUs to
# be quiet (it measures anyway when the wait runs out, and records how
# busy the machine was), the input read into the page cache, the previous
# output removed, and sync.
#
# Environment:
#   CLI_SIZE          bytes of the file (default 4294967296 = 4 GiB)
#   CLI_DIR           where the work directory goes (default /var/tmp)
#   CLI_ROUNDS        rounds (default 3)
#   CLI_SEGMENTS      segments of the segmented download (default 8)
#   CLI_PARALLEL      parts in flight for both uploaders (default 8)
#   CLI_FREIGHT_BIN   a freight binary to measure instead of building one
#   CLI_QUIET_WAIT    most seconds to wait for quiet before a run (default 60)
#   CLI_QUIET_BUSY    quiet: at most this % of all CPUs busy for 3 s (default 15)
#   CLI_PROFILE       if set, a directory for CPU profiles of each freight
#                     download and publish (FREIGHT_CPUPROFILE, see below)
#
# Needs curl and jq, about 4 x CLI_SIZE free on CLI_DIR and as much free memory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=${CLI_SIZE:-4294967296}
BASE=${CLI_DIR:-/var/tmp}
ROUNDS=${CLI_ROUNDS:-3}
SEGMENTS=${CLI_SEGMENTS:-8}
PARALLEL=${CLI_PARALLEL:-8}
QUIET_WAIT=${CLI_QUIET_WAIT:-60}
QUIET_BUSY=${CLI_QUIET_BUSY:-15}
PROFILE=${CLI_PROFILE:-}

log() { printf '%s cli-bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
now() { date +%s.%N; }
jget() { sed -E 's/.*"'"$2"'":("([^"]*)"|([^,}]*)).*/\2\3/' <<<"$1"; }
cpu_ticks() { awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }
busy_pct() { calc "100 * ($3 - $1) / ($4 - $2 + ($4 == $2))" 0; }
median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# others: how many compilers and test binaries of other people run now.
others() { pgrep -c -f -- '/compile |/link |go [t]est|[.]test( |$)' || true; }

# wait_quiet: up to QUIET_WAIT seconds for three quiet seconds in a row;
# sets QUIET to the % busy of the last second sampled.
wait_quiet() {
	local quiet=0 waited=0 b0 t0 b1 t1
	QUIET=-
	(( QUIET_WAIT > 0 )) || return 0
	read -r b0 t0 < <(cpu_ticks)
	while :; do
		sleep 1
		read -r b1 t1 < <(cpu_ticks)
		QUIET=$(busy_pct "$b0" "$t0" "$b1" "$t1")
		b0=$b1 t0=$t1 waited=$((waited + 1))
		if (( QUIET <= QUIET_BUSY )); then quiet=$((quiet + 1)); else quiet=0; fi
		(( quiet >= 3 )) && return 0
		if (( waited >= QUIET_WAIT )); then
			log "still ${QUIET}% busy after ${QUIET_WAIT}s; measuring anyway"
			return 0
		fi
	done
}

command -v curl >/dev/null || die "curl is not installed"
command -v jq >/dev/null || die "jq is not installed"
mkdir -p "$BASE"
avail_kib=$(df -Pk "$BASE" | awk 'NR==2 { print $4 }')
need_kib=$(( (4 * SIZE + (1 << 30)) / 1024 ))
(( avail_kib >= need_kib )) || die "$BASE has $((avail_kib >> 20)) GiB free; the benchmark needs $((need_kib >> 20)) GiB"

WORK=$(mktemp -d "$BASE/freight-cli-bench.XXXXXX")
FREIGHT_PID=
cleanup() {
	if [[ -n $FREIGHT_PID ]] && kill -0 "$FREIGHT_PID" 2>/dev/null; then
		kill "$FREIGHT_PID" 2>/dev/null || true
		wait "$FREIGHT_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log "work directory $WORK"

log "building"
if [[ -n ${CLI_FREIGHT_BIN:-} ]]; then
	cp "$CLI_FREIGHT_BIN" "$WORK/freight"
else
	(cd "$ROOT" && go build -o "$WORK/freight" ./cmd/freight)
fi
(cd "$ROOT" && go build -o "$WORK/download" ./bench/download && go build -o "$WORK/upload" ./bench/upload &&
	go build -o "$WORK/genfile" ./bench/genfile)

FILE=$WORK/input.bin
log "generating $SIZE bytes"
"$WORK/genfile" -size "$SIZE" -out "$FILE"
sync

DATA=$WORK/data
"$WORK/freight" demo --addr 127.0.0.1:0 --data-dir "$DATA" --download-budget 10000 --download-start-window 1h \
	>"$WORK/freight.out" 2>"$WORK/freight.log" &
FREIGHT_PID=$!
for _ in $(seq 600); do
	grep -q 'Freight demo is running at' "$WORK/freight.out" 2>/dev/null && break
	kill -0 "$FREIGHT_PID" 2>/dev/null || { tail -n 20 "$WORK/freight.log" >&2; die "freight exited"; }
	sleep 0.1
done
URL=$(sed -n 's/^Freight demo is running at \(http[^[:space:]]*\).*/\1/p' "$WORK/freight.out")
[[ -n $URL ]] || die "freight did not start in 60s"
log "freight $FREIGHT_PID at $URL; publishing the file"
PUB=$("$WORK/download" setup -demo "$DATA/demo.json" -file "$FILE") || die "setup failed"
ARTIFACT=$(jget "$PUB" artifact_id)
FILENAME=$(jget "$PUB" filename)
DIGEST=$(jget "$PUB" sha256)
BLOB=$DATA/blobs/sha256/${DIGEST:0:2}/$DIGEST
[[ $(stat -c %s "$BLOB") == "$SIZE" ]] || die "no blob of $SIZE bytes at $BLOB"
CURL_URL=$("$WORK/download" grants -demo "$DATA/demo.json" -artifact "$ARTIFACT" -n 1) || die "asking for a download URL failed"
# Tokens from demo.json: globex downloads, the admin publishes.
CUSTOMER=$(jq -r '.customers[] | select(.org == "globex") | .token' "$DATA/demo.json")
ADMIN=$(jq -r '.admin.token' "$DATA/demo.json")
[[ -n $CUSTOMER && -n $ADMIN ]] || die "no tokens in demo.json"
curl -sf -o /dev/null -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	-d '{"slug":"clibench","name":"CLI bench"}' "$URL/api/v1/products" || die "creating the product clibench failed"

OUT=$WORK/out.bin
RUNS=$WORK/runs.txt
: >"$RUNS"

# measure NAME CMD...: runs CMD once, timed, after waiting for quiet and
# warming WARMFILE; appends "NAME MB/s seconds busy% others" to RUNS.
measure() {
	local name=$1 t0 t1 b0 t0c b1 t1c secs mbps busy o0 o1
	shift
	wait_quiet
	cat "$WARMFILE" >/dev/null
	sync
	o0=$(others)
	read -r b0 t0c < <(cpu_ticks)
	t0=$(now)
	"$@" >"$WORK/last.out" 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; die "$name failed"; }
	t1=$(now)
	read -r b1 t1c < <(cpu_ticks)
	o1=$(others)
	secs=$(calc "$t1 - $t0" 3)
	mbps=$(calc "$SIZE / 1e6 / $secs" 1)
	busy=$(busy_pct "$b0" "$t0c" "$b1" "$t1c")
	echo "$name $mbps $secs $busy $(( o0 > o1 ? o0 : o1 )) $QUIET" >>"$RUNS"
	log "$name: ${secs}s, $mbps MB/s (machine ${busy}% busy during, ${QUIET}% before; $(( o0 > o1 ? o0 : o1 )) compilers/tests of others)"
}

dl_curl() {
	local r
	r=$(curl -s -o "$OUT" -w '%{http_code} %{size_download}' "$CURL_URL")
	[[ $r == "200 $SIZE" ]] || { echo "curl: $r" >&2; return 1; }
}
# dl_curl_verified: what a careful person does with curl alone, fetch and
# then check the SHA-256 (GNU coreutils sha256sum) before using the file:
# the peer that does all freight download does.
dl_curl_verified() {
	dl_curl || return 1
	[[ $(sha256sum "$OUT" | cut -d' ' -f1) == "$DIGEST" ]] || { echo "sha256sum: mismatch" >&2; return 1; }
}
dl_freight() { # dl_freight SEGMENTS
	local prof=()
	[[ -n $PROFILE ]] && prof=(env "FREIGHT_CPUPROFILE=$PROFILE/download-s$1-r$ROUND.pprof")
	"${prof[@]}" "$WORK/freight" download "millwright@9.0.0/$FILENAME" --output "$OUT" --segments "$1" --quiet --json \
		--server "$URL" --token "$CUSTOMER" >"$WORK/dl.json"
	[[ $(jget "$(cat "$WORK/dl.json")" bytes_fetched) == "$SIZE" ]] || { cat "$WORK/dl.json" >&2; return 1; }
}
up_tool() {
	"$WORK/upload" -server "$URL" -token "$ADMIN" -file "$FILE" -parallel "$PARALLEL" -server-pid "$FREIGHT_PID" >"$WORK/up.json"
}
up_freight() {
	local prof=()
	[[ -n $PROFILE ]] && prof=(env "FREIGHT_CPUPROFILE=$PROFILE/publish-r$ROUND.pprof")
	"${prof[@]}" "$WORK/freight" publish --product clibench --version "1.0.$ROUND" --concurrency "$PARALLEL" --quiet --json \
		--server "$URL" --token "$ADMIN" "$FILE" >"$WORK/pub.json"
	grep -q '"outcome":"uploaded"' "$WORK/pub.json" || { cat "$WORK/pub.json" >&2; return 1; }
}
# check_out: the downloaded file is the blob (curl's is checked here; freight
# checks its own).
check_out() {
	[[ $(stat -c %s "$OUT") == "$SIZE" ]] || die "$OUT has $(stat -c %s "$OUT") bytes"
}
[[ -n $PROFILE ]] && mkdir -p "$PROFILE"

# The first curl download is checked byte for byte, outside the timing.
WARMFILE=$BLOB
dl_curl && [[ $(sha256sum <"$OUT" | cut -d' ' -f1) == "$DIGEST" ]] || die "curl fetched other bytes"
rm -f "$OUT"

DL=(curl curl-sha256sum freight-s1 "freight-s$SEGMENTS")
for ROUND in $(seq "$ROUNDS"); do
	log "round $ROUND of $ROUNDS: downloads"
	WARMFILE=$BLOB
	for i in "${!DL[@]}"; do
		tool=${DL[$(( (i + ROUND - 1) % ${#DL[@]} ))]}
		rm -f "$OUT" "$OUT".freight-*
		sync
		case $tool in
		curl) measure curl dl_curl ;;
		curl-sha256sum) measure curl-sha256sum dl_curl_verified ;;
		freight-s1) measure freight-s1 dl_freight 1 ;;
		*) measure "$tool" dl_freight "$SEGMENTS" ;;
		esac
		check_out
	done
	rm -f "$OUT"
	log "round $ROUND of $ROUNDS: uploads"
	WARMFILE=$FILE
	if (( ROUND % 2 )); then
		measure upload-tool up_tool
		measure freight-publish up_freight
	else
		measure freight-publish up_freight
		measure upload-tool up_tool
	fi
done
kill "$FREIGHT_PID"
wait "$FREIGHT_PID" 2>/dev/null || true
FREIGHT_PID=

med() { awk -v n="$1" '$1 == n { print $2 }' "$RUNS" | median; }
all() { awk -v n="$1" '$1 == n { printf "%s%s", sep, $2; sep = " " }' "$RUNS"; }
c=$(med curl) cv=$(med curl-sha256sum) s1=$(med freight-s1) sn=$(med "freight-s$SEGMENTS") ut=$(med upload-tool) fp=$(med freight-publish)
fstype=$(df -T "$WORK" | awk 'NR==2 { print $2 }')
cat <<EOF
$(date -u +%Y-%m-%dT%H:%MZ), $(calc "$SIZE / 1073741824" 2) GiB, $ROUNDS rounds, $(nproc) CPU, Linux $(uname -r), $fstype, load average $(cut -d' ' -f1-3 /proc/loadavg)

| run | median MB/s | runs MB/s | ratio of medians |
|---|---|---|---|
| curl -o FILE (1 stream) | $c | $(all curl) | |
| curl -o FILE, then sha256sum FILE | $cv | $(all curl-sha256sum) | $(calc "$cv / $c") of curl |
| freight download --segments 1 | $s1 | $(all freight-s1) | $(calc "$s1 / $c") of curl, $(calc "$s1 / $cv") of curl + sha256sum |
| freight download --segments $SEGMENTS | $sn | $(all "freight-s$SEGMENTS") | $(calc "$sn / $c") of curl, $(calc "$sn / $cv") of curl + sha256sum |
| bench/upload -parallel $PARALLEL | $ut | $(all upload-tool) | |
| freight publish --concurrency $PARALLEL | $fp | $(all freight-publish) | $(calc "$fp / $ut") of bench/upload |

Every run, in order (machine % busy during the run, most compilers or tests of others seen, % busy before):

| run | MB/s | s | busy % | others | busy % before |
|---|---|---|---|---|---|
$(awk '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$RUNS")
EOF
