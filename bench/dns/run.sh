#!/usr/bin/env bash
# weir's DNS server against dnsmasq and aardvark-dns, under dnsperf, on loopback only.
#
#   bench/dns/run.sh [BUILD_DIR]        # default BUILD_DIR: build (needs bin/weir-dns-bench-server,
#                                       # bin/weir-dns-bench-store and bin/weir-agent)
#
# Every server serves the same NAMES names (one network, one A record each) and gets the same
# query file (each name once, type A, replayed for DURATION seconds). Two dnsperf runs per
# server:
#   1. as fast as it goes (OUTSTANDING queries in flight): QPS, mean latency, lost. At
#      saturation the latency is mostly queueing (Little's law: OUTSTANDING / QPS);
#   2. at a fixed RATE that every server but the slowest can sustain, with -v to log every
#      reply's latency: mean and p99 of the service itself.
# Then the resident memory (ps -o rss) of each server holding RSS_NAMES names, after a short
# burst of queries: weir's DNS server as above, and weir-agent itself serving the same names
# from a store (written by weir-dns-bench-store as the plugins would).
#
# Environment: DURATION (s, 10) NAMES (1000) RSS_NAMES (10000) CLIENTS (dnsperf -c, 8)
#              OUTSTANDING (dnsperf -q, 256) RATE (qps, 20000) TRIALS (3; 0 = memory only)
#              PORT_BASE (15350) WEIR_THREADS ("1 2")
#              BASELINE (a second build dir, e.g. of an older commit: its bin/weir-dns-bench-server
#              and bin/weir-agent are measured too, interleaved with this build's, as "base …")
# Needs root only to apt-get the tools when they are missing (dnsperf dnsmasq-base aardvark-dns
# bind9-dnsutils).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
server_bin=$build/bin/weir-dns-bench-server
store_bin=$build/bin/weir-dns-bench-store
agent_bin=$build/bin/weir-agent
DURATION=${DURATION:-10}
NAMES=${NAMES:-1000}
RSS_NAMES=${RSS_NAMES:-10000}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-256}
RATE=${RATE:-20000}
TRIALS=${TRIALS:-3}
# Queries come from 127.0.0.2: weir answers no client whose source is its listen address
# (that is the host asking its own gateway), and 127.0.0.1 is where every server listens.
CLIENT_ADDR=127.0.0.2
PORT_BASE=${PORT_BASE:-15350}
WEIR_THREADS=${WEIR_THREADS:-"1 2"}
AARDVARK=/usr/lib/podman/aardvark-dns

ensure_tools() {
  local missing=()
  command -v dnsperf >/dev/null || missing+=(dnsperf)
  command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
  [[ -x $AARDVARK ]] || missing+=(aardvark-dns)
  command -v dig >/dev/null || missing+=(bind9-dnsutils)
  if ((${#missing[@]})); then
    echo "installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

BASELINE=${BASELINE:-}
base_server_bin=${BASELINE:+$BASELINE/bin/weir-dns-bench-server}
base_agent_bin=${BASELINE:+$BASELINE/bin/weir-agent}
for b in "$server_bin" "$store_bin" "$agent_bin" $base_server_bin $base_agent_bin; do
  if [[ ! -x $b ]]; then
    echo "missing $b: cmake --build $build --target weir-dns-bench-server weir-dns-bench-store" \
      "weir (bin/weir-agent is a link to it)" >&2
    exit 1
  fi
done
ensure_tools

work=$(mktemp -d /tmp/weir-dns-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Fixtures for n names: weir's zone JSON, a hosts file (dnsmasq), an aardvark config dir, and
# the query file. Name i is c<i> at 10.88.<i/250>.<i%250+2>.
make_fixtures() {
  local n=$1 dir=$2
  mkdir -p "$dir/aardvark"
  awk -v n="$n" -v dir="$dir" 'BEGIN {
    zone = dir "/zone.json"; hosts = dir "/hosts"; aard = dir "/aardvark/bench"; q = dir "/queries"
    print "{\"networks\": [{\"name\": \"bench\", \"subnets\": [\"127.0.0.0/8\", \"10.88.0.0/16\"], \"listen\": [\"127.0.0.1\"]}]," > zone
    print " \"endpoints\": [" > zone
    print "127.0.0.1" > aard
    for (i = 0; i < n; i++) {
      name = sprintf("c%05d", i); ip = sprintf("10.88.%d.%d", int(i / 250), i % 250 + 2)
      id = sprintf("%012x%052d", i + 1, 0)  # unique in its first 12 characters, the short id
      printf "  {\"network\": \"bench\", \"container_id\": \"%s\", \"names\": [\"%s\"], \"ips\": [\"%s\"]}%s\n", id, name, ip, (i < n - 1 ? "," : "") > zone
      print ip, name, name ".bench" > hosts
      printf "%s %s  %s\n", id, ip, name > aard
      print name, "A" > q
    }
    print "]}" > zone
  }'
}

wait_ready() {  # port; an address in the answer (dig +short prints its errors on stdout too)
  for _ in $(seq 100); do
    if dig -b "$CLIENT_ADDR" @127.0.0.1 -p "$1" c00000 +short +time=1 +tries=1 2>/dev/null | grep -q '^10\.'; then
      return 0
    fi
    sleep 0.1
  done
  echo "server on port $1 never answered" >&2
  return 1
}

start_weir() {  # dir port threads [binary]
  "${4:-$server_bin}" --zone "$1/zone.json" --listen "127.0.0.1:$2" --threads "$3" >"$1/weir.out" 2>"$1/weir.err" &
  pids+=($!)
  server_pid=$!
}

start_agent() {  # dir port [binary]: weir-agent serving a fresh store with the fixture's endpoints
  rm -rf "$1/agent"
  "$store_bin" --zone "$1/zone.json" --data-dir "$1/agent" >/dev/null
  : >"$1/resolv.conf"  # no upstreams: the burst asks only for names the agent has
  "${3:-$agent_bin}" --data-dir "$1/agent" --dns-port "$2" --resolv-conf "$1/resolv.conf" --stay \
    >"$1/agent.out" 2>"$1/agent.err" &
  pids+=($!)
  server_pid=$!
}

start_base_weir() { start_weir "$1" "$2" "$3" "$base_server_bin"; }
start_base_agent() { start_agent "$1" "$2" "$base_agent_bin"; }

start_dnsmasq() {  # dir port
  dnsmasq --no-resolv --no-hosts --addn-hosts="$1/hosts" --port "$2" --listen-address 127.0.0.1 \
    --bind-interfaces --keep-in-foreground --user=root --pid-file= --cache-size=0 \
    >"$1/dnsmasq.out" 2>&1 &
  pids+=($!)
  server_pid=$!
}

start_aardvark() {  # dir port; it daemonizes and writes its pid into the config dir
  rm -f "$1/aardvark/aardvark.pid"
  "$AARDVARK" --config "$1/aardvark" -p "$2" run >"$1/aardvark.out" 2>&1
  for _ in $(seq 50); do [[ -s $1/aardvark/aardvark.pid ]] && break; sleep 0.1; done
  server_pid=$(cat "$1/aardvark/aardvark.pid")
  pids+=("$server_pid")
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$server_pid" 2>/dev/null || true
}

# One measured server: prints "qps avg_ms lost rate_avg_ms rate_p99_ms rate_lost".
measure() {  # dir port
  local out=$1/perf.txt verbose=$1/perf-v.txt
  dnsperf -a "$CLIENT_ADDR" -s 127.0.0.1 -p "$2" -d "$1/queries" -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$out" 2>&1
  dnsperf -a "$CLIENT_ADDR" -s 127.0.0.1 -p "$2" -d "$1/queries" -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" -t 2 \
    -Q "$RATE" -v >"$verbose" 2>&1
  local qps avg lost ravg rp99 rlost
  qps=$(awk '/Queries per second/ {printf "%.0f", $4}' "$out")
  avg=$(awk '/Average Latency/ {printf "%.3f", $4 * 1000}' "$out")
  lost=$(awk '/Queries lost/ {print $3}' "$out")
  ravg=$(awk '/Average Latency/ {printf "%.3f", $4 * 1000}' "$verbose")
  rlost=$(awk '/Queries lost/ {print $3}' "$verbose")
  rp99=$(awk '/^> / && $2 != "T" {print $NF}' "$verbose" | sort -g |
    awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] * 1000}')
  echo "$qps $avg $lost $ravg $rp99 $rlost"
}

rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }

printf 'fixtures: %s names for the load, %s for memory; dnsperf -l %s -c %s -q %s\n' \
  "$NAMES" "$RSS_NAMES" "$DURATION" "$CLIENTS" "$OUTSTANDING"
make_fixtures "$NAMES" "$work/load"
make_fixtures "$RSS_NAMES" "$work/rss"

# The servers, in the order measured: "label|start-function args".
servers=()
for t in $WEIR_THREADS; do
  threads="$t thread$([[ $t == 1 ]] || echo s)"
  servers+=("weir ($threads)|start_weir $t")
  [[ -z $BASELINE ]] || servers+=("base weir ($threads)|start_base_weir $t")
done
servers+=("dnsmasq $(dnsmasq --version | awk 'NR==1 {print $3}')|start_dnsmasq")
servers+=("aardvark-dns $("$AARDVARK" --version 2>/dev/null | awk '{print $2}')|start_aardvark")

# TRIALS rounds, servers interleaved within each, so that a burst of load from elsewhere on
# the machine hits them alike; each server's row is its round with the highest QPS.
declare -A best best_qps
port=$PORT_BASE
for trial in $(seq "$TRIALS"); do
  for entry in "${servers[@]}"; do
    IFS='|' read -r label start <<<"$entry"
    read -r fn arg <<<"$start"
    if ! $fn "$work/load" "$port" $arg || ! wait_ready "$port"; then
      best[$label]="- - - - - -"
      stop_server 2>/dev/null || true
      port=$((port + 1))
      continue
    fi
    result=$(measure "$work/load" "$port")
    stop_server; port=$((port + 1))
    qps=${result%% *}
    if [[ -z ${best_qps[$label]:-} || $qps -gt ${best_qps[$label]} ]]; then
      best_qps[$label]=$qps
      best[$label]=$result
    fi
  done
done
rows=()
if ((TRIALS > 0)); then
  for entry in "${servers[@]}"; do
    label=${entry%%|*}
    rows+=("$label|${best[$label]}")
  done
fi

# Memory with RSS_NAMES names, after a 2 s burst of queries.
rss_of() {  # label start-fn
  local label=$1 start=$2
  $start "$work/rss" "$port" ${3:-}; wait_ready "$port"
  dnsperf -a "$CLIENT_ADDR" -s 127.0.0.1 -p "$port" -d "$work/rss/queries" -l 2 -c 4 >/dev/null 2>&1 || true
  rss_rows+=("$label|$(rss_kb "$server_pid")")
  stop_server; port=$((port + 1))
}
rss_rows=()
rss_of "weir (2 threads)" start_weir 2
[[ -z $BASELINE ]] || rss_of "base weir (2 threads)" start_base_weir 2
rss_of "weir-agent (store)" start_agent
[[ -z $BASELINE ]] || rss_of "base weir-agent (store)" start_base_agent
rss_of "dnsmasq" start_dnsmasq
rss_of "aardvark-dns" start_aardvark || true

if ((TRIALS > 0)); then
  echo
  printf '%-22s | %9s %9s %7s | %9s %9s %7s\n' "" "max" "" "" "at $RATE" "qps" ""
  printf '%-22s | %9s %9s %7s | %9s %9s %7s\n' server "QPS" "avg ms" "lost" "avg ms" "p99 ms" "lost"
  for r in "${rows[@]}"; do
    IFS='|' read -r name vals <<<"$r"
    read -r qps avg lost ravg rp99 rlost <<<"$vals"
    printf '%-22s | %9s %9s %7s | %9s %9s %7s\n' "$name" "$qps" "$avg" "$lost" "$ravg" "$rp99" \
      "$rlost"
  done
fi
echo
printf '%-24s %18s\n' "server" "RSS KiB (${RSS_NAMES} names)"
for r in "${rss_rows[@]}"; do
  IFS='|' read -r name kb <<<"$r"
  printf '%-24s %18s\n' "$name" "$kb"
done
echo
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); best of $TRIALS rounds"
