#!/usr/bin/env bash
# Side-by-side benchmark of respring, rueidis, go-redis (plain and, for single
# commands, its autopipeliner: client=goredis-auto) and redigo against one throwaway
# redis-server on a free loopback port (see README.md). `make bench` runs it.
#
# Environment (all optional):
#   BENCH_COUNT   rounds (samples per benchmark for benchstat); default 6
#   BENCH_TIME    -benchtime of every benchmark but Conns and TLSConns (always 1x); default 1s
#   BENCH_FILTER  -bench regexp; default . (everything)
#   BENCH_SKIP_10K=1   skip the 10,000-connection benchmarks
#   BENCH_RUEIDIS_10K=1  also run rueidis at 10,000 clients (needs ~14 GB)
#   BENCH_REV     a git revision: benchmark that commit of respring (a clean snapshot)
#                 instead of the working tree
#   BENCH_MICRO=1 also run the parser and writer micro-benchmarks of the main module
#   BENCH_LARGE_CONNS=1  the large-value benchmarks also run respring-2conn and
#                 rueidis-1conn (how much the number of connections counts)
#   BENCH_TLS=0   no TLS port (the TLSGet and TLSSet benchmarks then skip)
#   BENCH_OUT     output directory; default bench/out
#
# The server also listens with TLS on a second free port, with a throwaway CA and
# server certificate that cmd/benchcerts writes to $BENCH_OUT/tls; the benchmarks get
# REDIS_BENCH_ADDR (plain), REDIS_BENCH_TLS_ADDR and REDIS_BENCH_TLS_CA (the CA file).
#
# A round runs both redis-benchmark reference commands, then every Go benchmark once;
# rounds are interleaved so that load from other processes spreads over all clients.
set -euo pipefail

bench_dir=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench_dir/.." && pwd)
count=${BENCH_COUNT:-6}
use_tls=${BENCH_TLS:-1}
btime=${BENCH_TIME:-1s}
filter=${BENCH_FILTER:-.}
out=${BENCH_OUT:-$bench_dir/out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PATH="$PATH:$(go env GOPATH)/bin"

log() { printf '== %s\n' "$*" >&2; }

# --- tools -----------------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1; then
	log "installing redis-server"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq redis-server >/dev/null
fi
if ! command -v benchstat >/dev/null 2>&1; then
	log "installing benchstat"
	go install golang.org/x/perf/cmd/benchstat@latest
fi

# 10,000 connections on each side: raise the open-file limit as far as allowed.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# --- the server --------------------------------------------------------------------
srv_pid=
snap=
cleanup() {
	if [[ -n $srv_pid ]] && kill -0 "$srv_pid" 2>/dev/null; then
		kill "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
	fi
	[[ -n $snap ]] && rm -rf "$snap"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# TLS: a throwaway CA and a server certificate for 127.0.0.1 (cmd/benchcerts, no openssl
# needed), and the arguments that open the TLS port (clients need no certificate).
tls_dir=$out/tls
tls_args=()
if [[ $use_tls != 0 ]]; then
	log "writing a throwaway CA and server certificate to $tls_dir"
	(cd "$bench_dir" && go run ./cmd/benchcerts -dir "$tls_dir")
fi

# up PORT [TLS]: whether the server answers PING on PORT (with TLS if asked).
up() {
	local args=(-p "$1")
	[[ -n ${2:-} ]] && args+=(--tls --cacert "$tls_dir/ca.crt")
	redis-cli "${args[@]}" ping 2>/dev/null | grep -q PONG
}

# start_server sets port, tls_port (if TLS) and srv_pid.
port=
tls_port=
start_server() {
	local tries i
	for tries in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + RANDOM % 12000)) # below the ephemeral range
		port_free "$port" || continue
		tls_args=()
		if [[ $use_tls != 0 ]]; then
			tls_port=$((20000 + RANDOM % 12000))
			[[ $tls_port != "$port" ]] && port_free "$tls_port" || continue
			tls_args=(--tls-port "$tls_port" --tls-cert-file "$tls_dir/server.crt"
				--tls-key-file "$tls_dir/server.key" --tls-ca-cert-file "$tls_dir/ca.crt"
				--tls-auth-clients no)
		fi
		redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
			--maxclients 20000 "${tls_args[@]}" \
			--daemonize no --logfile "$out/redis-server.log" </dev/null >/dev/null 2>&1 &
		srv_pid=$!
		for i in $(seq 100); do
			if up "$port" && { [[ $use_tls == 0 ]] || up "$tls_port" tls; }; then
				return 0
			fi
			kill -0 "$srv_pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
		srv_pid=
	done
	log "could not start redis-server (see $out/redis-server.log${tls_args:+; a redis-server built without TLS cannot open --tls-port: BENCH_TLS=0 runs without it})"
	return 1
}
start_server
export REDIS_BENCH_ADDR=127.0.0.1:$port
if [[ $use_tls != 0 ]]; then
	export REDIS_BENCH_TLS_ADDR=127.0.0.1:$tls_port REDIS_BENCH_TLS_CA=$tls_dir/ca.crt
else
	unset REDIS_BENCH_TLS_ADDR REDIS_BENCH_TLS_CA
fi
log "redis-server $(redis-server --version | awk '{print $3}') pid $srv_pid on $REDIS_BENCH_ADDR${REDIS_BENCH_TLS_ADDR:+, TLS on $REDIS_BENCH_TLS_ADDR}"

# --- the code under test -------------------------------------------------------------
src=$bench_dir
if [[ -n ${BENCH_REV:-} ]]; then
	rev=$(git -C "$root" rev-parse "$BENCH_REV")
	snap=$(mktemp -d)
	git -C "$root" archive "$rev" | tar -x -C "$snap"
	rm -rf "$snap/bench"
	mkdir "$snap/bench"
	(cd "$bench_dir" && tar -c --exclude=./out . ) | tar -x -C "$snap/bench"
	src=$snap/bench
	source_desc="snapshot of commit $rev"
else
	rev=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
	dirty=$(git -C "$root" status --porcelain -- . ':!bench' ':!Makefile' 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
	source_desc="working tree at commit $rev${dirty:+ with uncommitted changes in: $dirty}"
fi

{
	echo "date: $(date -u)"
	echo "machine: nproc=$(nproc), $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(go version)"
	echo "server: $(redis-server --version)${REDIS_BENCH_TLS_ADDR:+; also TLS (throwaway CA of cmd/benchcerts, ECDSA P-256, --tls-auth-clients no)}"
	echo "respring: $source_desc"
	echo "command: BENCH_COUNT=$count BENCH_TIME=$btime BENCH_FILTER='$filter'${BENCH_REV:+ BENCH_REV=$BENCH_REV}${BENCH_MICRO:+ BENCH_MICRO=$BENCH_MICRO}${BENCH_SKIP_10K:+ BENCH_SKIP_10K=$BENCH_SKIP_10K}${BENCH_TLS:+ BENCH_TLS=$BENCH_TLS}${BENCH_LARGE_CONNS:+ BENCH_LARGE_CONNS=$BENCH_LARGE_CONNS} bash bench/run.sh"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/env.txt" >&2

log "building the benchmark binary"
(cd "$src" && go test -c -o "$out/bench.test" .)

# --- rounds ---------------------------------------------------------------------------
results=$out/results.txt
rbfile=$out/redis-benchmark.txt
: >"$results"
: >"$rbfile"

# redis-benchmark's CSV line -> a Go benchmark line (ops/s, p50-ns, p99-ns).
rb() {
	local label=$1 n=$2
	shift 2
	redis-benchmark -p "$port" -t get -d 16 -n "$n" --csv "$@" | awk -F'"' -v name="BenchmarkRedisBenchmark/get16B/$label/client=redis-benchmark" -v n="$n" '
		$2 == "GET" { rps = $4; printf "%s\t%d\t%.1f ns/op\t%.0f ops/s\t%.0f p50-ns\t%.0f p99-ns\n", name, n, 1e9 / rps, rps, $10 * 1e6, $14 * 1e6 }'
}

# GET key:__rand_int__ (redis-benchmark's key) returns a 16-byte value, like ours.
redis-cli -p "$port" set 'key:__rand_int__' xxxxxxxxxxxxxxxx >/dev/null

for r in $(seq "$count"); do
	log "round $r of $count"
	rb c1-P128 1000000 -c 1 -P 128 | tee -a "$rbfile" >&2
	rb c1-P1 100000 -c 1 -P 1 | tee -a "$rbfile" >&2
	(cd "$src" && "$out/bench.test" -test.run '^$' -test.bench "$filter" -test.skip '^Benchmark(TLS)?Conns$' \
		-test.benchtime "$btime" -test.count 1 -test.timeout 2h) | tee -a "$results" >&2
	(cd "$src" && "$out/bench.test" -test.run '^$' -test.bench "$filter" \
		-test.skip '^Benchmark(Get|Set|TLSGet|TLSSet|LargeGet|LargeSet|Batch|Tx|Pipeline|Latency|Pubsub)$' \
		-test.benchtime 1x -test.count 1 -test.timeout 2h) | tee -a "$results" >&2
done

if [[ ${BENCH_MICRO:-0} == 1 ]]; then
	log "parser and writer micro-benchmarks"
	(cd "$(dirname "$src")" && go test -run '^$' -bench . -benchmem -count "$count" ./parser ./writer) >"$out/micro.txt"
fi

# --- report ---------------------------------------------------------------------------
(cd "$src" && go build -o "$out/benchratio" ./cmd/benchratio)
{
	cat "$out/env.txt"
	echo
	echo "## benchstat -col /client (base: respring)"
	echo
	(cd "$out" && benchstat -col /client results.txt)
	echo
	echo "## redis-benchmark reference (benchstat)"
	echo
	(cd "$out" && benchstat redis-benchmark.txt)
	if [[ -s $out/micro.txt ]]; then
		echo
		echo "## parser and writer micro-benchmarks"
		echo
		(cd "$out" && benchstat micro.txt)
	fi
	echo
	"$out/benchratio" "$results" "$rbfile"
} | tee "$out/report.txt"
log "raw results in $results and $rbfile; report in $out/report.txt"
