#!/usr/bin/env bash
# The weir package end to end, as root. cpack builds the .deb from this build folder; its file
# list, Depends and size are checked; dpkg installs it; the installed weirctl runs a real ADD and
# DEL of conf/bridge.conflist (from /usr/share/doc/weir/examples) through the installed plugins
# in /usr/lib/cni, in private weirt- netns inside a private mount namespace (tmpfs over /var/lib
# and /run, so the host's store and netns are untouched); remove must stop every weir-agent
# running from the package and keep only /var/lib/weir; purge must leave nothing of weir on
# disk. The package is purged even when a step fails.
#
#   package_test.sh BUILD_DIR SOURCE_DIR
#
# Exit 77 (skipped): not root, no cpack or dpkg, dpkg busy, or this host has a weir package or
# a /var/lib/weir of its own (the test would remove them).
set -euo pipefail

plugins=/usr/lib/cni
programs=(weir-agent weir-bridge-local weir-host weir-ipam-local weir-macvlan weir-none)

skip() {
  echo "SKIP: $*"
  exit 77
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# The ADD and DEL, in the private mount namespace of `unshare -m` (the main part runs this with
# --add-del): tmpfs over /var/lib (the store, weirctl's cache) and /run (the netns).
add_del() {
  local work=$1 host=$2 ctr=$3
  mount -t tmpfs tmpfs /var/lib
  mount -t tmpfs tmpfs /run
  ip netns add "$host"
  ip netns add "$ctr"
  ip -n "$host" link set lo up
  # NETCONFPATH: the examples the package installed; CNI_PATH unset: weirctl's default.
  export NETCONFPATH=/usr/share/doc/weir/examples
  nsenter --net="/run/netns/$host" weirctl --json add weir "$ctr" >"$work/add.json"
  grep -q '"172\.17\.0\.[0-9]*/16"' "$work/add.json" || fail "ADD: $(cat "$work/add.json")"
  ip -n "$ctr" -4 -o addr show eth0 | grep -q 'inet 172\.17\.0\.' || fail "no eth0: $(ip -n "$ctr" addr)"
  [[ -f /var/lib/weir/weir.db ]] || fail "ADD left no store in /var/lib/weir"
  nsenter --net="/run/netns/$host" weirctl del weir "$ctr"
  if ip -n "$ctr" link show eth0 >/dev/null 2>&1; then fail "eth0 still there after DEL"; fi
  # An always-on agent, as the unit runs it (systemd makes its StateDirectory), left running
  # for remove to stop.
  mkdir /var/lib/weir-stay
  nsenter --net="/run/netns/$host" setsid "$plugins/weir-agent" --stay --data-dir=/var/lib/weir-stay \
    </dev/null >/dev/null 2>"$work/agent.log" &
  echo $! >"$work/agent.pid"
  for _ in $(seq 100); do
    [[ -S /var/lib/weir-stay/agent.sock ]] && return 0
    sleep 0.05
  done
  fail "the always-on weir-agent did not listen: $(cat "$work/agent.log")"
}
if [[ ${1:-} == --add-del ]]; then
  add_del "$2" "$3" "$4"
  exit 0
fi

build=$(realpath "$1")
src=$(realpath "$2")
[[ $(id -u) == 0 ]] || skip "needs root (dpkg -i)"
for tool in cpack dpkg dpkg-deb dpkg-shlibdeps unshare nsenter ip flock; do
  command -v "$tool" >/dev/null || skip "no $tool"
done
[[ -f $build/CPackConfig.cmake ]] || fail "$build has no CPackConfig.cmake"

# One package test at a time on this host (the package is machine-wide).
exec 9>/run/lock/weir-package-test.lock
flock -w 600 9 || skip "another package test holds /run/lock/weir-package-test.lock"
if dpkg-query -W -f='${Status}' weir 2>/dev/null | grep -q ' installed$'; then
  skip "a weir package is installed on this host"
fi
[[ ! -e /var/lib/weir ]] || skip "/var/lib/weir exists on this host"

work=$(mktemp -d /tmp/weirt-package.XXXXXX)
installed=0
cleanup() {
  local rc=$?
  set +e
  if ((installed)); then
    dpkg --purge weir >"$work/cleanup-purge.log" 2>&1 || cat "$work/cleanup-purge.log" >&2
  fi
  if [[ -s $work/agent.pid ]]; then kill -KILL "$(cat "$work/agent.pid")" 2>/dev/null; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# The pids of weir-agents run from the installed weir (as the package's prerm finds them; also
# those in other mount namespaces): executable weir, run as weir-agent.
agent_pids() {
  local dir
  for dir in /proc/[0-9]*; do
    case "$(readlink "$dir/exe" 2>/dev/null)" in
      "$plugins/weir" | "$plugins/weir (deleted)")
        if [[ $(cat "$dir/comm" 2>/dev/null) == weir-agent ]]; then echo "${dir#/proc/}"; fi
        ;;
    esac
  done
}

echo "== cpack"
(cd "$build" && cpack -G DEB -B "$work/out") >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; fail "cpack"; }
debs=("$work"/out/weir_*.deb)
[[ ${#debs[@]} == 1 && -f ${debs[0]} ]] || fail "cpack made no weir_*.deb: ${debs[*]}"
deb=${debs[0]}

echo "== the package's files"
expected=("./usr/bin/weirctl" "./lib/systemd/system/weir-agent.service")
for p in weir weir-cluster weir-bridge weir-ipam "${programs[@]}"; do expected+=("./usr/lib/cni/$p"); done
for f in "$src"/conf/*; do expected+=("./usr/share/doc/weir/examples/$(basename "$f")"); done
# Every entry that is not a folder: "path" or, for a symlink, "path -> target".
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print substr($0, index($0, "./"))}' | sort >"$work/files"
sed 's/ -> .*//' "$work/files" >"$work/paths"
printf '%s\n' "${expected[@]}" | sort >"$work/expected"
diff -u "$work/expected" "$work/paths" || fail "the package's files differ from the expected ones"
# One weir: every program's name a symlink to it.
for p in "${programs[@]}"; do
  grep -qx "\./usr/lib/cni/$p -> weir" "$work/files" || fail "$p: $(grep "/$p" "$work/files")"
done
grep -qx '\./usr/bin/weirctl -> \.\./lib/cni/weir' "$work/files" ||
  fail "weirctl: $(grep weirctl "$work/files")"
# Depends (dpkg-shlibdeps) names the package of every shared library an executable needs: weir
# and the front ends are static; weir-cluster (the etcd store) needs libcurl and the C library.
depends=$(dpkg-deb -f "$deb" Depends)
dpkg-deb -x "$deb" "$work/root"
mapfile -t needed < <(find "$work/root" -type f -exec readelf -d {} \; 2>/dev/null |
  sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
echo "Depends: ${depends:-none}; shared libraries needed: ${needed[*]:-none}"
for lib in "${needed[@]}"; do
  # This architecture's package (libm.so.6 is in libc6-i386 too).
  owner=$(dpkg -S "*/$lib" 2>/dev/null | grep "^[^:]*:$(dpkg --print-architecture):" | head -1 | cut -d: -f1)
  [[ -n $owner && $depends == *"$owner"* ]] || fail "Depends lacks ${owner:-the package of} $lib"
done
size_kib=$(dpkg-deb -f "$deb" Installed-Size)
echo "Installed-Size: $size_kib KiB, .deb $(($(stat -c %s "$deb") / 1024)) KiB"
# weir-cluster is weir again, linked with the etcd store: the bound went from 10 to 16 MiB with it.
((size_kib <= 16384)) || fail "Installed-Size $size_kib KiB > 16 MiB"

echo "== dpkg -i"
if ! dpkg -i "$deb" >"$work/install.log" 2>&1; then
  grep -qi 'lock' "$work/install.log" && skip "dpkg is busy: $(grep -i lock "$work/install.log")"
  installed=1  # half-installed: purged by cleanup
  cat "$work/install.log" >&2
  fail "dpkg -i"
fi
installed=1
dpkg -L weir | sort >"$work/owned"
mapfile -t owned_files < <(while read -r p; do [[ -f $p && ! -L $p ]] && echo "$p"; done <"$work/owned")
disk_kib=$(du -sk --total "${owned_files[@]}" | tail -1 | cut -f1)
echo "on disk: $disk_kib KiB"
((disk_kib <= 16384)) || fail "installed files take $disk_kib KiB > 16 MiB"
for p in "${programs[@]}"; do
  [[ $plugins/$p -ef $plugins/weir ]] || fail "$plugins/$p does not lead to $plugins/weir"
done
[[ /usr/bin/weirctl -ef $plugins/weir ]] || fail "/usr/bin/weirctl does not lead to $plugins/weir"
grep -qx "ExecStart=$plugins/weir-agent --stay" /lib/systemd/system/weir-agent.service ||
  fail "weir-agent.service: $(grep ExecStart /lib/systemd/system/weir-agent.service)"
if "$plugins/weir" no-such-program >"$work/usage" 2>&1; then fail "weir no-such-program exited 0"; fi
grep -q '^usage: weir' "$work/usage" || fail "weir no-such-program: $(cat "$work/usage")"

echo "== ADD and DEL of conf/bridge.conflist, installed, in a private mount namespace"
host=weirt-pkg-host-$$
ctr=weirt-pkg-ctr-$$
unshare -m --propagation private "$0" --add-del "$work" "$host" "$ctr" ||
  fail "ADD/DEL through the installed package"
agent=$(cat "$work/agent.pid")
# Not grep -q: it would stop reading at the match, and agent_pids, writing the worker's pid
# next, would die of SIGPIPE (pipefail). The agent's worker is a weir-agent too.
agent_pids | grep -x "$agent" >/dev/null ||
  fail "the weir-agent started (pid $agent) is not seen as one: $(cat "$work/agent.log")"

echo "== dpkg -r: the agents stop, only /var/lib/weir stays"
mkdir /var/lib/weir && echo store >/var/lib/weir/weir.db  # the store a host's ADDs leave
dpkg -r weir >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; fail "dpkg -r"; }
[[ -z $(agent_pids) ]] || fail "weir-agent still running after remove: $(agent_pids)"
[[ -f /var/lib/weir/weir.db ]] || fail "remove deleted /var/lib/weir"
left=()
while read -r p; do
  [[ -d $p ]] && continue  # folders (and /lib, a symlink to one): shared ones stay
  [[ -e $p || -L $p ]] && left+=("$p")
done <"$work/owned"
((${#left[@]} == 0)) || fail "left after remove: ${left[*]}"

echo "== dpkg -P: nothing of weir left"
dpkg -P weir >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg -P"; }
installed=0
[[ ! -e /var/lib/weir ]] || fail "purge left /var/lib/weir"
[[ ! -e /usr/share/doc/weir ]] || fail "purge left /usr/share/doc/weir"
while read -r p; do
  [[ $p == /usr/share/doc/weir* || ! -d $p ]] || continue
  [[ -e $p || -L $p ]] && fail "left after purge: $p"
done <"$work/owned"
if dpkg-query -W -f='${Status}' weir 2>/dev/null | grep -q 'installed\|config-files'; then
  fail "dpkg still knows weir: $(dpkg-query -W -f='${Status}' weir)"
fi
echo "PASS"
