# Sourced by the scripts: installs missing Debian packages (apt-get update
# once, only when something is missing).
SB_BUILD_PACKAGES="build-essential cmake pkg-config libosip2-dev liburcu-dev libjemalloc-dev libinih-dev libsqlite3-dev libssl-dev libmicrohttpd-dev libhiredis-dev libwslay-dev"

ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# build DIR [cmake args...]: configures and builds into DIR.
build() {
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)" -- --no-print-directory >/dev/null
}

# phone_deps: the softphone page's one dependency (SIP.js), installed from
# web/phone/package-lock.json with npm (Debian's, unless an npm is there:
# NodeSource's nodejs carries its own and conflicts with Debian's npm).
phone_deps() {
    command -v npm >/dev/null || ensure_packages nodejs npm || return 1
    [ web/phone/node_modules/.package-lock.json -nt web/phone/package-lock.json ] && return 0
    (cd web/phone && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}
