#!/usr/bin/env bash
# The demo: builds weir, installs it into a temporary prefix, and runs containers on weir
# networks with weirctl, saying what it does. Everything happens inside a private "host"
# network namespace, so your real host's links and firewall are never touched, and everything
# is removed at the end, also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

say "installing build dependencies (Debian packages)"
./scripts/install-deps.sh

say "building weir"
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_TESTS=OFF -DWEIR_WERROR=ON >/dev/null
cmake --build build-demo -j"$(nproc)"

prefix=$(mktemp -d /tmp/weir-demo.XXXXXX)
host=weir-demo-host-$$
containers=(weir-demo-web-$$ weir-demo-client-$$ weir-demo-app-$$ weir-demo-db-$$)
server_pid=""
cleanup() {
  set +e
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
  if [[ -e /var/run/netns/$host ]]; then
    for c in "${containers[@]}"; do
      for net in weir appnet; do
        in_host "${weirctl[@]}" del "$net" "$c" >/dev/null 2>&1
      done
    done
  fi
  for c in "${containers[@]}"; do ip netns del "$c" 2>/dev/null; done
  ip netns del "$host" 2>/dev/null
  rm -rf "$prefix"
}
trap cleanup EXIT

say "installing into $prefix (plugins in lib/cni, networks in net.d)"
cmake --install build-demo --prefix "$prefix" >/dev/null
mkdir -p "$prefix/net.d" "$prefix/data"
# The examples from conf/, with the store in the temporary prefix.
for f in none bridge bridge-user; do
  sed "s|\"type\": \"weir-ipam\"|\"type\": \"weir-ipam\", \"dataDir\": \"$prefix/data\"|" \
    "conf/$f.conflist" >"$prefix/net.d/$f.conflist"
done
export CNI_PATH="$prefix/lib/cni" NETCONFPATH="$prefix/net.d"
weirctl=("$prefix/bin/weirctl" --cache-dir "$prefix/cache")
in_host() { nsenter --net="/var/run/netns/$host" "$@"; }

say "a private host netns ($host), and one netns per container"
run ip netns add "$host"
in_host ip link set lo up
for c in "${containers[@]}"; do ip netns add "$c"; done

say "1. none: a throw-away container with only its loopback"
in_host "${weirctl[@]}" run loopback-only -- ip -brief addr

say "2. the default bridge network \"weir\" (172.17.0.0/16, NAT, published ports)"
run in_host "${weirctl[@]}" add weir "${containers[0]}" --args K8S_POD_NAME=web \
  --cap 'portMappings=[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]'
run in_host "${weirctl[@]}" add weir "${containers[1]}" --args K8S_POD_NAME=client
web_ip=$(ip -n "${containers[0]}" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)

say "client pings web ($web_ip)"
run ip netns exec "${containers[1]}" ping -c 2 -W 1 "$web_ip"

say "web serves on port 80, published as 127.0.0.1:8080 of the host"
ip netns exec "${containers[0]}" sh -c \
  'printf "HTTP/1.0 200 OK\r\n\r\nhello from the web container\n" | nc -l -N 80 >/dev/null' &
server_pid=$!
sleep 0.3
run in_host nc -w 2 127.0.0.1 8080
wait "$server_pid" 2>/dev/null || true
server_pid=""

say "the firewall weir made (one nftables table, tagged per network and container)"
in_host nft list table inet weir | sed -n '1,40p'

say "3. a user network \"appnet\" with the embedded DNS: containers find each other by name"
run in_host "${weirctl[@]}" add appnet "${containers[2]}" --args K8S_POD_NAME=app
run in_host "${weirctl[@]}" add appnet "${containers[3]}" --args K8S_POD_NAME=db \
  --cap 'aliases={"appnet":["database"]}'
gw=$(ip -n "${containers[2]}" -4 route show default | awk '{print $3}')
run ip netns exec "${containers[2]}" dig +short @"$gw" db
run ip netns exec "${containers[2]}" dig +short @"$gw" database.appnet

say "removing every container: DEL takes the veths, leases, rules, bridges and weir-agent"
for c in "${containers[@]}"; do
  for net in weir appnet; do in_host "${weirctl[@]}" del "$net" "$c"; done
done
# DEL answers before the kernel has finished deleting a veth (a child process does that, holding
# this lock): wait for it before looking.
flock "$prefix/data/reaper.lock" true 2>/dev/null || true
run in_host ip -brief link
tables=$(in_host nft list tables | grep -c weir || true)
echo "weir nftables tables left: $tables"
# weir-agent ran most of the ADDs and DELs above on a store it keeps open; with no container
# left it exits (a moment after the last DEL's answer).
for _ in $(seq 30); do
  pgrep -f "$prefix/lib/cni/weir-agent" >/dev/null || break
  sleep 0.1
done
if pgrep -f "$prefix/lib/cni/weir-agent" >/dev/null; then
  echo "weir-agent: still running"
else
  echo "weir-agent: exited with the last container"
fi
say "done"
