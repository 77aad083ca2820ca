# Shared by scripts/demo, scripts/test and scripts/hugepages: installing the
# Debian packages the project needs, building, and reserving hugepages.
# Sourced, not run.

YARD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build and run-time packages (Debian 12).
YARD_BUILD_PACKAGES=(
    gcc clang libclang-rt-14-dev meson ninja-build pkg-config
    dpdk libdpdk-dev liburcu-dev libjemalloc-dev libmsgpack-dev libcriterion-dev
    libcyaml-dev libssl-dev libpcap-dev python3-pyelftools
)
# What the tests use on top: kernel applications in namespaces, Python's
# msgpack as an independent encoder, and the formatting check.
YARD_TEST_PACKAGES=(python3-msgpack iproute2 ethtool clang-format procps prometheus serf nftables)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "$1 needs root (hugepages, DPDK ports, network namespaces); run it with sudo"
}

# Install whatever of the given packages is missing (apt-get update first).
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
}

# meson setup (once) and ninja for one build directory.
#   build_tree DIR [meson options...]
build_tree() {
    local dir=$1
    shift
    if [ ! -f "$YARD_ROOT/$dir/build.ninja" ]; then
        say "configuring $dir"
        (cd "$YARD_ROOT" && meson setup "$dir" "$@" >"$YARD_ROOT/$dir.setup.log" 2>&1) || {
            cat "$YARD_ROOT/$dir.setup.log" >&2
            die "meson setup $dir failed"
        }
    fi
    say "building $dir"
    ninja -C "$YARD_ROOT/$dir" >"$YARD_ROOT/$dir.build.log" 2>&1 || {
        tail -50 "$YARD_ROOT/$dir.build.log" >&2
        die "build of $dir failed (full log: $dir.build.log)"
    }
}

# Reserve at least $1 2-MB hugepages and mount hugetlbfs. Returns non-zero
# (with the reason on stderr) when the kernel will not give them.
ensure_hugepages() {
    local want=$1 nr=/proc/sys/vm/nr_hugepages
    [ -w "$nr" ] || { echo "cannot write $nr" >&2; return 1; }
    local have
    have=$(cat "$nr")
    if [ "$have" -lt "$want" ]; then
        echo "$want" >"$nr" 2>/dev/null
        have=$(cat "$nr")
    fi
    if [ "$have" -lt "$want" ]; then
        echo "the kernel gave $have of $want hugepages (memory too fragmented or too small)" >&2
        [ "$have" -ge $((want / 2)) ] || return 1
    fi
    if ! grep -q '^[^ ]* /dev/hugepages hugetlbfs' /proc/mounts; then
        mkdir -p /dev/hugepages
        mount -t hugetlbfs nodev /dev/hugepages || { echo "cannot mount hugetlbfs" >&2; return 1; }
    fi
    return 0
}
