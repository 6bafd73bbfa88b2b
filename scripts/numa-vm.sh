#!/usr/bin/env bash
# numa-vm.sh: numaseg's multi-node test machine. Boots a throw-away QEMU guest whose kernel sees
# N NUMA nodes (default 4) with 2 MiB huge pages reserved on each, runs ONE host executable in
# it, streams the executable's stdout and stderr to ours and exits with its exit code.
#
#   scripts/numa-vm.sh [options] [--] BINARY [ARGS...]
#   scripts/numa-vm.sh --self-test      # checks this script: exit codes, output, topology
#   scripts/numa-vm.sh --prepare        # installs and builds what a run needs, boots nothing
#
# Exit codes: the binary's own (128+N when signal N killed it), and for the runner itself
#   124  the timeout (--timeout) hit; the VM was killed
#   125  the VM failed: QEMU did not start, or the guest ended without reporting a status
#   126  nothing was booted: bad option, binary not found, packages or kernel not obtainable
#   130  interrupted (Ctrl-C)
#
# What it needs, obtained on first use (the kernel and initramfs base cached in target/numa-vm/):
# - Debian packages qemu-system-x86, busybox-static and cpio, installed with apt-get (root, or
#   sudo) when missing; `apt-get update` is run once if the install fails (fresh machine).
# - A guest kernel: Debian's linux-image-cloud-amd64 is downloaded with `apt-get download` and
#   unpacked into the cache (the host's /boot and its package database are not touched); only
#   vmlinuz and the virtio-serial modules are kept. --kernel picks another one.
# The guest is an initramfs: a cached base (busybox, /init, modules), rebuilt when any of them
# changes, followed by a per-run archive holding the binary, the libraries `ldd` lists
# for it at their host paths, --add files and the run's settings. Nothing of the host is
# mounted in the guest. stdout and stderr travel over two virtio-serial ports into files that
# are streamed to ours as they grow; the status comes back on the guest console as a line with a
# random tag, as does a line when the binary starts (a guest failing before it is booted again). The guest's environment: RUN_IN_NUMA_VM=1, RUN_IN_NUMA_VM_NODES=N, the host's NUMASEG_*
# and RUST_* variables, and --env values. README.md ("The multi-node guest") has more.
set -Eeuo pipefail

readonly E_TIMEOUT=124 E_VM=125 E_SETUP=126
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${NUMA_VM_CACHE:-${CARGO_TARGET_DIR:-$ROOT/target}/numa-vm}
nodes=4 mem=512 hugepages=64 cpus=1 timeout=${NUMA_VM_TIMEOUT:-600}
accel=${NUMA_VM_ACCEL:-auto} kernel=${NUMA_VM_KERNEL:-} console_out="" verbose=0
install=1 mode=run
envs=() adds=()

say() { echo "numa-vm: $*" >&2; }
fail() { say "$*"; exit "$E_SETUP"; }
trap 'say "failed: $BASH_COMMAND (line $LINENO)"; exit "$E_SETUP"' ERR

usage() {
  cat <<EOF
Usage: scripts/numa-vm.sh [options] [--] BINARY [ARGS...]
       scripts/numa-vm.sh --self-test | --prepare

Runs BINARY (a host executable) in a QEMU guest with N NUMA nodes; exits with its exit code,
124 on timeout, 125 if the VM failed, 126 if nothing could be booted.

  --nodes N            NUMA nodes (default $nodes), one socket each
  --mem MiB            memory per node (default $mem)
  --hugepages N        2 MiB huge pages reserved on every node (default $hugepages)
  --cpus-per-node N    vCPUs per node (default $cpus)
  --timeout SEC        kill the VM after SEC seconds, boot included (default $timeout; NUMA_VM_TIMEOUT)
  --accel auto|kvm|tcg auto: KVM when /dev/kvm is usable, else TCG emulation (NUMA_VM_ACCEL)
  --kernel PATH        guest kernel (NUMA_VM_KERNEL); default: Debian's cloud kernel, cached
  --env NAME=VALUE     set a variable in the guest (NAME alone: the host's value)
  --add PATH           copy a file or directory into the guest at the same path
  --console FILE       keep the guest's console (kernel log) in FILE
  --no-install         never call apt-get
  -v, --verbose        the guest console goes to stderr as it comes
EOF
}

# === arguments ===

while (($#)); do
  case $1 in
    --nodes | --mem | --hugepages | --cpus-per-node | --timeout | --accel | --kernel | --env | --add | --console)
      (($# >= 2)) || fail "$1 needs a value"
      case $1 in
        --nodes) nodes=$2 ;; --mem) mem=$2 ;; --hugepages) hugepages=$2 ;;
        --cpus-per-node) cpus=$2 ;; --timeout) timeout=$2 ;; --accel) accel=$2 ;;
        --kernel) kernel=$2 ;; --env) envs+=("$2") ;; --add) adds+=("$2") ;; --console) console_out=$2 ;;
      esac
      shift 2 ;;
    --no-install) install=0; shift ;;
    -v | --verbose) verbose=1; shift ;;
    --self-test) mode="self-test"; shift ;;
    --prepare) mode=prepare; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) usage >&2; fail "unknown option $1" ;;
    *) break ;;
  esac
done
for v in nodes mem hugepages cpus timeout; do
  [[ ${!v} =~ ^[0-9]+$ ]] || fail "--${v/cpus/cpus-per-node} wants a whole number, not '${!v}'"
done
((nodes >= 1 && nodes <= 16)) || fail "--nodes must be 1 to 16"
((mem >= 128)) || fail "--mem must be at least 128 (MiB)"
((cpus >= 1 && timeout >= 1)) || fail "--cpus-per-node and --timeout must be at least 1"
[[ $accel =~ ^(auto|kvm|tcg)$ ]] || fail "--accel must be auto, kvm or tcg"

# === host tools ===

# Installs Debian packages, running `apt-get update` first when the install fails (a fresh
# machine has no package lists).
apt_install() {
  ((install)) || fail "missing $*; install them (apt-get install $*) or drop --no-install"
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || fail "missing $*; run once as root or install them"
    sudo=(sudo)
  fi
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
  say "installing $* (apt-get, once)"
  "${apt[@]}" install --no-install-recommends "$@" >&2 \
    || { "${apt[@]}" update >&2 && "${apt[@]}" install --no-install-recommends "$@" >&2; } \
    || fail "apt-get install $* failed"
}

busybox_path() {
  local b
  for b in /bin/busybox /usr/bin/busybox; do [[ -x $b ]] && { echo "$b"; return 0; }; done
  return 1
}

ensure_tools() {
  local need=()
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  command -v cpio >/dev/null || need+=(cpio)
  busybox_path >/dev/null || need+=(busybox-static)
  ((${#need[@]} == 0)) || apt_install "${need[@]}"
  BUSYBOX=$(busybox_path) || fail "no busybox after installing busybox-static"
}

# === guest kernel ===

# Modules that make virtio_console and virtio_pci work, each after the ones it depends on (the
# `depends=` of its .modinfo), as paths relative to the module directory $1. Empty when they
# are built in.
module_closure() {
  local dir=$1
  declare -A seen=()
  visit() {
    local path deps d
    [[ -z ${seen[$1]:-} ]] || return 0
    seen[$1]=1
    path=$(cd "$dir" && find . -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" | head -n1)
    [[ -n $path ]] || return 0
    case $path in
      *.xz) deps=$(xz -dc "$dir/$path" | grep -a -o 'depends=[^[:cntrl:]]*') ;;
      *.zst) deps=$(zstd -qdc "$dir/$path" | grep -a -o 'depends=[^[:cntrl:]]*') ;;
      *) deps=$(grep -a -o 'depends=[^[:cntrl:]]*' "$dir/$path") ;;
    esac || true
    deps=${deps#depends=}
    for d in ${deps//,/ }; do visit "$d"; done
    echo "${path#./}"
  }
  visit virtio_pci
  visit virtio_console
}

# Downloads Debian's cloud kernel into the cache and keeps vmlinuz plus the modules above.
fetch_kernel() {
  local pkg="" work=$CACHE/kernel/.fetch-$$ tries
  command -v apt-get >/dev/null || fail "no guest kernel: not a Debian system, pass --kernel"
  rm -rf "$work" && mkdir -p "$work/x"
  # Stale or missing package lists (a fresh machine): `apt-get update`, then try once more.
  for tries in 1 2; do
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }') || true
    if [[ -n $pkg ]]; then
      say "downloading the guest kernel $pkg into $CACHE/kernel"
      (cd "$work" && apt-get -q -o APT::Sandbox::User="$(id -un)" download "$pkg" >&2) && break
    fi
    ((tries == 1 && install)) || fail "could not download linux-image-cloud-amd64 (${pkg:-unknown to apt}); pass --kernel"
    say "running apt-get update"
    if ((EUID == 0)); then apt-get -q update >&2; else sudo apt-get -q update >&2; fi || fail "apt-get update failed"
  done
  dpkg-deb -x "$work"/*.deb "$work/x" || fail "could not unpack $pkg"
  local vmlinuz kver m
  vmlinuz=$(ls "$work"/x/boot/vmlinuz-* | head -n1)
  kver=${vmlinuz##*/vmlinuz-}
  mkdir -p "$work/k/boot" "$work/k/lib/modules/$kver"
  cp "$vmlinuz" "$work/k/boot/"
  for m in $(module_closure "$work/x/lib/modules/$kver"); do
    mkdir -p "$work/k/lib/modules/$kver/${m%/*}"
    cp "$work/x/lib/modules/$kver/$m" "$work/k/lib/modules/$kver/$m"
  done
  # Another run may have fetched the same kernel meanwhile: then either copy will do.
  mv -T "$work/k" "$CACHE/kernel/$pkg" 2>/dev/null || true
  rm -rf "$work"
}

ensure_kernel() {
  if [[ -z $kernel ]]; then
    kernel=$(ls -d "$CACHE"/kernel/linux-image-*/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1) || true
    if [[ -z $kernel ]]; then
      fetch_kernel
      kernel=$(ls -d "$CACHE"/kernel/linux-image-*/boot/vmlinuz-* | sort -V | tail -n1)
    fi
  fi
  [[ -r $kernel ]] || fail "guest kernel $kernel is not readable"
  # Modules beside a cached kernel, else the host's for a kernel of the same name in /boot.
  local kver=${kernel##*/vmlinuz-}
  moddir=$(dirname "$kernel")/../lib/modules/$kver
  [[ -d $moddir ]] || moddir=/lib/modules/$kver
  [[ -d $moddir ]] || moddir=""
}

# === the initramfs ===

# Quotes a word for the guest's shell.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# Copies FILE (following symlinks) into the staging tree $1 at its host path; an ELF file brings
# the libraries and the loader `ldd` lists for it.
stage_file() {
  local stage=$1 file=$2 out lib
  mkdir -p "$stage/$(dirname "$file")"
  cp -L "$file" "$stage/$file"
  [[ $(head -c4 "$file" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]] || return 0
  out=$(LC_ALL=C ldd "$file" 2>&1) || return 0   # static: nothing more to bring
  if grep -q 'not found' <<<"$out"; then fail "$file: libraries missing on the host: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"; fi
  for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out"); do
    [[ -e $stage/$lib ]] && continue
    mkdir -p "$stage/$(dirname "$lib")"
    cp -L "$lib" "$stage/$lib"
  done
}

cpio_of() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet); }

# The guest's /init. It reads /numa-vm/run.conf (the per-run archive) for the binary, its
# arguments and environment, and the numbers of nodes and huge pages.
write_init() {
  cat <<'EOF'
#!/bin/busybox sh
# /init of scripts/numa-vm.sh's guest
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /sbin /usr/bin /usr/sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/hugepages
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t hugetlbfs -o pagesize=2M hugetlbfs /dev/hugepages
mount -t cgroup2 cgroup2 /sys/fs/cgroup
chmod 1777 /tmp
# Messages at level 2 reach the console even with `quiet`; the host reads them there.
kmsg() { echo "<2>numa-vm: $*" > /dev/kmsg; }
for m in $(cat /numa-vm/modules.order 2>/dev/null); do insmod "/numa-vm/modules/$m"; done
. /numa-vm/run.conf
got=""; short=""
for n in /sys/devices/system/node/node*; do
  f=$n/hugepages/hugepages-2048kB/nr_hugepages
  echo "$VM_HUGEPAGES" > "$f"
  have=$(cat "$f"); got="$got ${n##*/}=$have"
  [ "$have" -ge "$VM_HUGEPAGES" ] || short=1
done
count=$(ls -d /sys/devices/system/node/node* | wc -l)
[ "$count" = "$VM_NODES" ] || kmsg "WARNING: the kernel sees $count NUMA nodes, $VM_NODES asked for"
[ -z "$short" ] || kmsg "WARNING: fewer 2 MiB pages than $VM_HUGEPAGES per node:$got"
echo "<5>numa-vm: $count nodes, $(nproc) cpus, 2 MiB pages:$got" > /dev/kmsg
# stdout and stderr: the virtio-serial ports the host named, else both on the second UART.
out=""; err=""; tries=0
while :; do
  for p in /sys/class/virtio-ports/*; do
    [ -r "$p/name" ] || continue
    case $(cat "$p/name") in
      numa-vm.out) out=/dev/${p##*/} ;;
      numa-vm.err) err=/dev/${p##*/} ;;
    esac
  done
  [ -c "$out" ] && [ -c "$err" ] && break
  tries=$((tries + 1))
  if [ $tries -gt 100 ]; then
    kmsg "WARNING: no virtio-serial ports; stdout and stderr both go to ttyS1"
    out=/dev/ttyS1; err=/dev/ttyS1; stty -F /dev/ttyS1 raw -echo; break
  fi
  usleep 50000
done
mkdir -p "$VM_CWD" && cd "$VM_CWD"
kmsg "$VM_TAG started"
"$@" < /dev/null > "$out" 2> "$err"
kmsg "$VM_TAG exit $?"
poweroff -f
EOF
}

# The cached part of the initramfs: busybox, /init, the modules. Its name carries a hash of
# everything in it, so a change of any input builds a new one.
build_base() {
  local mods=() m key stage
  [[ -z $moddir ]] || mapfile -t mods < <(module_closure "$moddir")
  key=$( { echo base-1; sha256sum "$BUSYBOX"; write_init; for m in "${mods[@]}"; do sha256sum "$moddir/$m"; done; } \
    | sha256sum | cut -c1-16)
  base=$CACHE/base-$key.cpio
  # Bases unused for a week go; the one in use is touched (runs may go on in parallel).
  find "$CACHE" -maxdepth 1 -name 'base-*.cpio' -mtime +7 -delete
  [[ -s $base ]] && { touch "$base"; return 0; }
  stage=$CACHE/.base-$$
  rm -rf "$stage" && mkdir -p "$stage/numa-vm/modules" "$stage/etc"
  stage_file "$stage" "$BUSYBOX"
  [[ $BUSYBOX == /bin/busybox ]] || { mkdir -p "$stage/bin"; ln -s "$BUSYBOX" "$stage/bin/busybox"; }
  for m in "${mods[@]}"; do
    case $m in
      *.ko) cp "$moddir/$m" "$stage/numa-vm/modules/" ;;
      *.ko.xz) xz -dc "$moddir/$m" >"$stage/numa-vm/modules/$(basename "${m%.xz}")" ;;
      *.ko.zst) zstd -qdc "$moddir/$m" >"$stage/numa-vm/modules/$(basename "${m%.zst}")" ;;
      *) fail "module $m: unknown compression" ;;
    esac
    m=${m##*/}
    echo "${m%.ko*}.ko" >>"$stage/numa-vm/modules.order"
  done
  write_init >"$stage/init"
  chmod 755 "$stage/init"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
  printf 'root:x:0:\n' >"$stage/etc/group"
  cpio_of "$stage" >"$base.$$" && mv "$base.$$" "$base"
  rm -rf "$stage"
}

# === running ===

kvm_usable() {
  [[ -r /dev/kvm && -w /dev/kvm ]] || return 1
  grep -qwE 'vmx|svm' /proc/cpuinfo || return 1   # no hardware virtualisation to offer
  [[ ! -d /sys/module/kvm_pvm ]] || return 1       # PVM runs only PVM-enabled guest kernels
}

prepare() {
  mkdir -p "$CACHE"
  ensure_tools
  ensure_kernel
  build_base
  if [[ $accel == auto ]]; then if kvm_usable; then accel=kvm; else accel=tcg; fi; fi
}

run() {
  local bin=$1 name e
  [[ $bin == */* ]] || bin=$(type -P "$1") || fail "$1: not found in PATH"
  [[ -f $bin && -x $bin ]] || fail "$bin: not an executable file"
  bin=$(realpath -s "$bin")
  shift
  prepare

  work=$(mktemp -d "${TMPDIR:-/tmp}/numa-vm.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  local stage=$work/stage tag
  mkdir -p "$stage/numa-vm"
  stage_file "$stage" "$bin"
  for e in "${adds[@]}"; do
    [[ -e $e ]] || fail "--add $e: not found"
    e=$(realpath -s "$e")
    if [[ -d $e ]]; then
      mkdir -p "$stage/$(dirname "$e")" && cp -rL "$e" "$stage/$e"
    else stage_file "$stage" "$e"; fi
  done
  tag="status-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  {
    echo "VM_NODES=$nodes VM_HUGEPAGES=$hugepages VM_TAG=$tag VM_CWD=$(q "$PWD")"
    echo "export RUN_IN_NUMA_VM=1 RUN_IN_NUMA_VM_NODES=$nodes RUN_IN_NUMA_VM_HUGEPAGES_PER_NODE=$hugepages"
    while read -r name; do
      if [[ $name =~ ^(NUMASEG|RUST)_[A-Za-z0-9_]*$ ]]; then echo "export $name=$(q "${!name}")"; fi
    done < <(compgen -e)
    for e in "${envs[@]}"; do
      name=${e%%=*}
      [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || fail "--env $e: not a variable name"
      if [[ $e == *=* ]]; then echo "export $name=$(q "${e#*=}")"
      elif [[ -n ${!name+set} ]]; then echo "export $name=$(q "${!name}")"; fi
    done
    printf 'set --'
    for e in "$bin" "$@"; do printf ' %s' "$(q "$e")"; done
    echo
  } >"$stage/numa-vm/run.conf"
  { cat "$base"; cpio_of "$stage"; } >"$work/initrd" || fail "could not write the initramfs"

  local total=$((nodes * cpus)) i
  console=$work/console
  vm=(qemu-system-x86_64 -nodefaults -no-user-config -display none -monitor none -no-reboot
    -m $((nodes * mem))M -smp "$total,sockets=$nodes,cores=$cpus,threads=1")
  if [[ $accel == kvm ]]; then vm+=(-accel kvm -cpu host); else vm+=(-accel "tcg,thread=multi" -cpu max); fi
  for ((i = 0; i < nodes; i++)); do
    vm+=(-object "memory-backend-ram,id=ram$i,size=${mem}M"
      -numa "node,nodeid=$i,memdev=ram$i,cpus=$((i * cpus))-$((i * cpus + cpus - 1))")
  done
  # init_on_alloc=0: Debian's kernels zero every allocation, which makes reserving huge pages
  # slow under emulation; pages given to processes are zeroed all the same. no_timer_check: on a
  # loaded host an emulated timer can miss the kernel's early check, which then panics.
  vm+=(-kernel "$kernel" -initrd "$work/initrd"
    -append "console=ttyS0 quiet panic=-1 oops=panic printk.devkmsg=on init_on_alloc=0 mitigations=off no_timer_check"
    -chardev "file,id=con,path=$console" -serial chardev:con
    -chardev "file,id=tty1,path=$work/out,append=on" -serial chardev:tty1
    # ioeventfd=off: every guest write reaches us before the guest goes on, so none is lost
    # when it powers off.
    -device "virtio-serial-pci,id=vser,ioeventfd=off"
    -chardev "file,id=out,path=$work/out,append=on" -device "virtserialport,bus=vser.0,chardev=out,name=numa-vm.out"
    -chardev "file,id=err,path=$work/err,append=on" -device "virtserialport,bus=vser.0,chardev=err,name=numa-vm.err")
  ((!verbose)) || say "kernel $kernel, accel $accel, initramfs $(du -h "$work/initrd" | cut -f1)"
  local started=$SECONDS status
  rc=0 interrupted=0
  # A guest that fails before it starts the binary (under emulation on a loaded host the kernel
  # can still trip over its timers) is booted once more: nothing has run, nothing was printed.
  for attempt in 1 2; do
    boot
    status=$(grep -a -o "numa-vm: $tag exit [0-9][0-9]*" "$console" | tail -n1 | cut -d' ' -f4) || true
    [[ -z $status && $interrupted == 0 && $rc != 124 && $rc != 137 && $attempt == 1 ]] || break
    [[ -s $console ]] && ! grep -a -q "numa-vm: $tag started" "$console" || break
    say "the guest failed before starting the binary (QEMU exit $rc); booting again. End of its console:"
    tail -n 8 "$console" | tr -d '\r' >&2
  done
  [[ -z $console_out ]] || cp "$console" "$console_out"
  grep -a 'numa-vm: WARNING' "$console" | sed 's/^.*numa-vm: /numa-vm: guest: /' | tr -d '\r' >&2 || true
  if [[ -n $status ]]; then
    ((!verbose)) || say "exit status $status after $((SECONDS - started)) s ($accel)"
    exit "$status"
  fi
  ((!interrupted)) || { say "interrupted"; exit 130; }
  if ((rc == 124 || rc == 137)); then
    say "timed out after $timeout s (--timeout); the VM was killed. End of its console:"
    tail -n 20 "$console" | tr -d '\r' >&2
    exit "$E_TIMEOUT"
  fi
  say "the VM ended without a status (QEMU exit $rc, accel $accel, $((SECONDS - started)) s). End of its console:"
  tail -n 30 "$console" | tr -d '\r' >&2
  [[ ! -s $work/qemu.log ]] || { say "QEMU said:"; tail -n 20 "$work/qemu.log" >&2; }
  exit "$E_VM"
}

# One boot of "${vm[@]}": streams the output files while QEMU runs, sets rc (its exit status,
# 124 or 137 on timeout) and interrupted.
boot() {
  # The ports write to files, which never make QEMU wait: with a pipe it would hold back what
  # the reader has not taken yet, and lose it when the guest powers off. `tail` streams them to
  # our stdout and stderr, and ends after QEMU does, once it has read everything.
  : >"$console"
  : >"$work/out"
  : >"$work/err"
  timeout -k 5 "$timeout" "${vm[@]}" </dev/null >"$work/qemu.log" 2>&1 &
  local pid=$! streams=()
  tail -s 0.1 -c +1 -f --pid="$pid" "$work/out" &
  streams+=($!)
  tail -s 0.1 -c +1 -f --pid="$pid" "$work/err" >&2 &
  streams+=($!)
  if ((verbose)); then
    tail -s 0.1 -c +1 -f --pid="$pid" "$console" >&2 &
    streams+=($!)
  fi
  trap 'interrupted=1; kill "$pid" 2>/dev/null' INT TERM
  while :; do
    wait "$pid" && rc=0 || rc=$?
    kill -0 "$pid" 2>/dev/null || break
  done
  trap - INT TERM
  wait "${streams[@]}" || true
}

# Checks the runner itself: exit status, output streams, topology and environment in the guest,
# the timeout code and the no-boot code. About three boots.
self_test() {
  local self=$ROOT/scripts/numa-vm.sh rc
  t=$(mktemp -d)   # global: the EXIT trap still needs it
  trap 'rm -rf "$t"' EXIT
  check() {
    if eval "$2"; then echo "self-test: ok: $1"; return; fi
    echo "self-test: FAILED: $1; its stderr:" >&2
    cat "$t/err" >&2
    exit 1
  }
  "$self" --prepare 2>"$t/err" || check "--prepare" false
  # The host's /bin/sh (dynamically linked: brings its libraries) running busybox's tools.
  local begun=$SECONDS boot
  rc=0
  NUMASEG_SELF_TEST=from-host "$self" --env 'GIVEN=a b' -- /bin/sh -c '
    echo "nodes=$(ls -d /sys/devices/system/node/node* | wc -l) mark=$RUN_IN_NUMA_VM/$RUN_IN_NUMA_VM_NODES"
    echo "pages=$(cat /sys/devices/system/node/node*/hugepages/hugepages-2048kB/nr_hugepages | tr "\n" ,)"
    echo "env=$NUMASEG_SELF_TEST/$GIVEN cwd=$(pwd)"
    echo "to stderr" >&2
    seq 1 300000
    seq 1 300000 >&2
    exit 3' >"$t/out" 2>"$t/err" || rc=$?
  boot=$((SECONDS - begun))
  check "a status of 3 comes back as 3 (got $rc, $boot s)" '((rc == 3))'
  check "4 nodes with 64 huge pages each" 'grep -qx "nodes=4 mark=1/4" "$t/out" && grep -qx "pages=64,64,64,64," "$t/out"'
  check "environment and working directory" 'grep -qx "env=from-host/a b cwd=$PWD" "$t/out"'
  check "stderr apart from stdout" 'grep -qx "to stderr" "$t/err" && ! grep -q stderr "$t/out"'
  check "2 MB on each stream arrive whole" \
    'tail -n +4 "$t/out" | cmp -s - <(seq 1 300000) && tail -n +2 "$t/err" | cmp -s - <(seq 1 300000)'
  # The timeout covers the boot: allow 4 boots like the one above (a loaded host boots slowly).
  local limit=$((boot * 4 > 20 ? boot * 4 : 20))
  rc=0
  "$self" --timeout "$limit" -- /bin/sh -c 'echo started; sleep 600' >"$t/out" 2>"$t/err" || rc=$?
  check "a timeout ($limit s) exits $E_TIMEOUT after the output so far (got $rc)" '((rc == E_TIMEOUT)) && grep -qx started "$t/out"'
  rc=0
  "$self" -- "$t/no-such-binary" 2>"$t/err" || rc=$?
  check "a missing binary exits $E_SETUP without booting (got $rc)" '((rc == E_SETUP))'
  rc=0
  "$self" --nodes 2 --hugepages 8 -- /bin/sh -c 'kill -SEGV $$' 2>"$t/err" || rc=$?
  check "a binary killed by SIGSEGV exits 139 (got $rc)" '((rc == 139))'
  echo "self-test: all passed"
}

case $mode in
  prepare) prepare; say "ready: kernel $kernel, base $base, accel $accel" ;;
  self-test) self_test ;;
  run)
    (($# >= 1)) || { usage >&2; fail "no binary given"; }
    run "$@"
    ;;
esac
