#!/usr/bin/env bash
# Upload benchmark: Freight's upload protocol on the filesystem blob store
# against dd writing the same bytes to the same disk, in the same run.
#
#   bench/upload.sh                      # 4 GiB, 8 parts in flight, 64 MiB parts
#   BENCH_SIZE=$((8<<30)) BENCH_PARALLEL=4 BENCH_PART_SIZE=$((128<<20)) bench/upload.sh
#
# Environment:
#   BENCH_SIZE         bytes to upload (default 4294967296 = 4 GiB)
#   BENCH_DIR          where the work directory goes (default /var/tmp); the
#                      input file, dd's output and the portal's data
#                      directory all live in it, so on one filesystem
#   BENCH_PARALLEL     parts in flight (default 8)
#   BENCH_PART_SIZE    the server's --upload-part-size (default 67108864 = 64 MiB)
#   BENCH_FREIGHT_BIN  a freight binary to measure instead of building
#                      ./cmd/freight from this tree (one built from a commit)
#   BENCH_QUIET_WAIT   seconds to wait, before each measurement, for the
#                      machine to be quiet (default 300; 0 = don't wait)
#   BENCH_QUIET_BUSY   quiet means at most this % of all CPUs busy for three
#                      seconds in a row (default 15)
#   BENCH_HEADER       print the table header too (default 1)
#
# Needs about 2 x BENCH_SIZE free on BENCH_DIR's filesystem (the input plus
# one copy: dd's output, removed before the upload, or the uploaded blob),
# and as much free memory, so that the input stays in the page cache.
# Prints a Markdown table row on stdout; progress goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=${BENCH_SIZE:-4294967296}
BASE=${BENCH_DIR:-/var/tmp}
PARALLEL=${BENCH_PARALLEL:-8}
PART_SIZE=${BENCH_PART_SIZE:-67108864}
QUIET_WAIT=${BENCH_QUIET_WAIT:-300}
QUIET_BUSY=${BENCH_QUIET_BUSY:-15}
HEADER=${BENCH_HEADER:-1}

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
# calc EXPR [DECIMALS]: floating-point arithmetic by awk.
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
# jget JSON KEY: the value of a top-level scalar of a flat JSON object.
jget() { sed -E 's/.*"'"$2"'":("([^"]*)"|([^,}]*)).*/\2\3/' <<<"$1"; }
# cpu_ticks: "busy total" jiffies of all CPUs since boot, from /proc/stat.
cpu_ticks() { awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }
# busy_pct BUSY0 TOTAL0 BUSY1 TOTAL1: % of CPU time busy between samples.
busy_pct() { calc "100 * ($3 - $1) / ($4 - $2 + ($4 == $2))" 0; }
# busy_cores BUSY0 BUSY1: CPU-seconds busy between two samples.
busy_cores() { calc "($2 - $1) / $(getconf CLK_TCK)" 1; }
# child_cpu VAR: set VAR to the user+system CPU seconds of this shell's
# finished children. (times must run in this shell, not in a $(…) subshell,
# which has children of its own.)
child_cpu() {
	times >"$WORK/times"
	printf -v "$1" '%s' "$(awk 'NR==2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1]*60 + u[2] + s[1]*60 + s[2] }' "$WORK/times")"
}
# proc_cpu PID: user+system CPU seconds of a running process.
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# warm FILE: read FILE into the page cache and report how much of it is
# resident. (Idle page cache does not stay: some VMs, this one included,
# run DAMON reclaim, which pages out what nobody touched for a minute, so
# warming comes after waiting for quiet, right before measuring.)
warm() {
	cat "$1" >/dev/null
	sync
	if command -v fincore >/dev/null; then
		log "$(basename "$1"): $(fincore --bytes --noheadings --output RES "$1" | awk -v s="$SIZE" '{ printf "%.0f%%", 100 * $1 / (s + (s == 0)) }') in the page cache"
	fi
}
# wait_quiet: wait up to QUIET_WAIT seconds for three quiet seconds in a
# row, and set QUIET to the % busy of the last second sampled. Other
# people's builds on the machine otherwise decide the result.
wait_quiet() {
	local quiet=0 waited=0 b0 t0 b1 t1
	read -r b0 t0 < <(cpu_ticks)
	while :; do
		sleep 1
		read -r b1 t1 < <(cpu_ticks)
		QUIET=$(busy_pct "$b0" "$t0" "$b1" "$t1")
		b0=$b1 t0=$t1 waited=$((waited + 1))
		if (( QUIET <= QUIET_BUSY )); then quiet=$((quiet + 1)); else quiet=0; fi
		(( quiet >= 3 )) && return 0
		if (( waited >= QUIET_WAIT )); then
			log "the machine is still busy ($QUIET% of CPU) after ${QUIET_WAIT}s; measuring anyway"
			return 0
		fi
	done
}

mkdir -p "$BASE"
avail_kib=$(df -Pk "$BASE" | awk 'NR==2 { print $4 }')
need_kib=$(( (2 * SIZE + (1 << 30)) / 1024 ))
df -h "$BASE" >&2
(( avail_kib >= need_kib )) || die "$BASE has $((avail_kib >> 20)) GiB free; the benchmark needs $((need_kib >> 20)) GiB"

WORK=$(mktemp -d "$BASE/freight-bench.XXXXXX")
SERVER_PID=
cleanup() {
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
log "work directory $WORK"

log "building"
if [[ -n ${BENCH_FREIGHT_BIN:-} ]]; then
	cp "$BENCH_FREIGHT_BIN" "$WORK/freight"
else
	(cd "$ROOT" && go build -o "$WORK/freight" ./cmd/freight)
fi
(cd "$ROOT" && go build -o "$WORK/upload" ./bench/upload && go build -o "$WORK/genfile" ./bench/genfile)

FILE=$WORK/input.bin
log "generating $SIZE bytes"
"$WORK/genfile" -size "$SIZE" -out "$FILE"
sync

# The peer: dd writes the same bytes to the same filesystem and fsyncs.
# Both runs read their input from the page cache.
QUIET=
(( QUIET_WAIT > 0 )) && wait_quiet
dd_quiet=${QUIET:--}
warm "$FILE"
log "dd bs=16M conv=fsync (machine ${dd_quiet}% busy before)"
child_cpu c0
read -r b0 _ < <(cpu_ticks)
t0=$(now)
dd if="$FILE" of="$WORK/dd.out" bs=16M conv=fsync status=none
t1=$(now)
read -r b1 _ < <(cpu_ticks)
child_cpu c1
dd_secs=$(calc "$t1 - $t0" 3)
dd_mbps=$(calc "$SIZE / 1e6 / $dd_secs" 1)
dd_cpu=$(calc "$c1 - $c0" 1)
dd_other=$(calc "$(busy_cores "$b0" "$b1") - $dd_cpu" 1)
[[ $dd_other == -* ]] && dd_other=0.0
log "dd: ${dd_secs}s, $dd_mbps MB/s; dd used ${dd_cpu} CPU-s, the rest of the machine $dd_other CPU-s (kernel writeback, anyone else)"
rm -f "$WORK/dd.out"
sync

# Freight: a fresh data directory on the same filesystem.
DATA=$WORK/data
token=$("$WORK/freight" create-admin --email bench@freight.example --data-dir "$DATA" | grep -o 'frt_[^[:space:]]*' | head -n1)
[[ -n $token ]] || die "create-admin printed no token"
"$WORK/freight" serve --addr 127.0.0.1:0 --data-dir "$DATA" --upload-part-size "$PART_SIZE" \
	>"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
url=
for _ in $(seq 300); do
	url=$(sed -n 's/^Freight is listening on \(http[^[:space:]]*\).*/\1/p' "$WORK/server.out")
	[[ -n $url ]] && break
	kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the server exited"; }
	sleep 0.1
done
[[ -n $url ]] || die "the server did not start in 30s"
log "server $SERVER_PID at $url"

QUIET=
(( QUIET_WAIT > 0 )) && wait_quiet
up_quiet=${QUIET:--}
warm "$FILE"
log "uploading: $PARALLEL in flight (machine ${up_quiet}% busy before)"
child_cpu c0
s0=$(proc_cpu "$SERVER_PID")
read -r b0 _ < <(cpu_ticks)
if ! result=$("$WORK/upload" -server "$url" -token "$token" -file "$FILE" -parallel "$PARALLEL" -server-pid "$SERVER_PID"); then
	tail -n 20 "$WORK/server.log" >&2
	die "the upload failed"
fi
read -r b1 _ < <(cpu_ticks)
s1=$(proc_cpu "$SERVER_PID")
child_cpu c1
up_other=$(calc "$(busy_cores "$b0" "$b1") - ($s1 - $s0) - ($c1 - $c0)" 1)
[[ $up_other == -* ]] && up_other=0.0 # jiffy rounding around nothing
log "upload: $result"

# The server's peak resident memory and CPU time, read before it stops.
hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status")
read -r utime stime < <(awk '{ print $14, $15 }' "/proc/$SERVER_PID/stat")
server_cpu=$(calc "($utime + $stime) / $(getconf CLK_TCK)" 1)
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=

up_mbps=$(jget "$result" mb_per_s)
part_mbps=$(jget "$result" part_mb_per_s)
complete_secs=$(jget "$result" complete_seconds)
total_secs=$(jget "$result" total_seconds)
part_size=$(jget "$result" part_size)
ratio=$(calc "$up_mbps / $dd_mbps" 2)
rss_mib=$(calc "$hwm_kib / 1024" 1)
fstype=$(df -T "$WORK" | awk 'NR==2 { print $2 }')
machine="$(nproc) CPU, Linux $(uname -r), $fstype"

log "upload total ${total_secs}s: parts $(calc "$(jget "$result" part_seconds)") s, complete $(calc "$complete_secs") s"
log "CPU seconds user/sys: server parts $(jget "$result" server_part_user_s)/$(jget "$result" server_part_sys_s)," \
	"server complete $(jget "$result" server_complete_user_s)/$(jget "$result" server_complete_sys_s)," \
	"client $(jget "$result" client_user_s)/$(jget "$result" client_sys_s); server lifetime ${server_cpu};" \
	"the rest of the machine $up_other CPU-s while the uploader ran (kernel writeback, anyone else)"
log "peak RSS: server $rss_mib MiB, client $(calc "$(jget "$result" client_max_rss_mib)" 1) MiB"
if [[ $HEADER == 1 ]]; then
	echo "| date | file size | dd MB/s | freight MB/s (total) | ratio | part phase MB/s | complete s | server peak RSS MiB | parallel | part size | other CPU-s during dd/upload | machine |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
fi
printf '| %s | %s GiB | %s | %s | %s | %s | %s | %s | %s | %s MiB | %s/%s | %s |\n' \
	"$(date -u +%Y-%m-%dT%H:%MZ)" "$(calc "$SIZE / 1073741824" 2)" "$dd_mbps" "$(calc "$up_mbps" 1)" "$ratio" \
	"$(calc "$part_mbps" 1)" "$(calc "$complete_secs" 2)" "$rss_mib" "$PARALLEL" "$(calc "$part_size / 1048576" 0)" \
	"$dd_other" "$up_other" "$machine"
