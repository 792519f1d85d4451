#!/usr/bin/env bash
# Installs the real clients and servers that the tests drive (crates/*/tests):
#   Debian packages: skopeo, podman, buildah, docker-registry (the reference registry), wrk,
#                    nginx (the load balancer of the HA test) and iproute2 (its `ss`),
#                    PostgreSQL (server and psql), chromium (the portal's browser tests) and
#                    Node.js with npm (to run them), prometheus (its server and promtool,
#                    which scrape and lint /metrics)
#   npm: playwright-core, pinned in tests/browser/package-lock.json, into tests/browser
#   PyPI: oras (oras-py, the ORAS Python SDK, 0.2.x) and schemathesis (the API conformance test)
#   crates.io: garage (the S3-compatible server; built once per machine, ~15 minutes)
# Idempotent, and quick when everything is already there: apt and pip run only for what is
# missing. Meant for root on Debian 12 (CI and developer machines); no prompts.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# command -> Debian package that provides it
declare -A APT_PACKAGE_FOR=(
    [skopeo]=skopeo
    [podman]=podman
    [buildah]=buildah
    [docker-registry]=docker-registry
    [wrk]=wrk
    [curl]=curl
    [nginx]=nginx
    [openssl]=openssl
    [ss]=iproute2
    [psql]=postgresql-client
    [pg_ctlcluster]=postgresql
    [chromium]=chromium
    [node]=nodejs
    [npm]=npm
    [promtool]=prometheus
)
ORAS_PIP_SPEC='oras>=0.2,<0.3'
SCHEMATHESIS_PIP_SPEC='schemathesis>=4.32,<5'

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n env DEBIAN_FRONTEND=noninteractive)
    else
        echo "install-test-deps: must run as root (or with sudo) to install packages" >&2
        exit 1
    fi
fi

apt_updated=0
apt_install() {
    if [[ $apt_updated -eq 0 ]]; then
        "${SUDO[@]}" apt-get update -qq
        apt_updated=1
    fi
    # Keep the packages' services from starting here (docker-registry's would listen on :5000):
    # a policy-rc.d that says no, unless the machine already has one.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$policy"
        added_policy=1
    fi
    local status=0
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" || status=$?
    if [[ $added_policy -eq 1 ]]; then
        "${SUDO[@]}" rm -f "$policy"
    fi
    return "$status"
}

missing=()
for cmd in skopeo podman buildah docker-registry wrk curl nginx openssl ss psql pg_ctlcluster chromium node npm promtool; do
    # nginx and the PostgreSQL tools live in sbin or under /usr/lib/postgresql on Debian.
    if ! command -v "$cmd" >/dev/null 2>&1 && ! [[ -x /usr/sbin/$cmd ]]; then
        missing+=("${APT_PACKAGE_FOR[$cmd]}")
    fi
done
if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-pip)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "install-test-deps: installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

# pip_install SPEC MODULE: installs SPEC from PyPI unless python3 can import MODULE.
pip_install() {
    local spec=$1 module=$2
    if python3 -c "import $module" >/dev/null 2>&1; then
        return
    fi
    if ! python3 -m pip --version >/dev/null 2>&1; then
        echo "install-test-deps: installing python3-pip"
        apt_install python3-pip
    fi
    echo "install-test-deps: installing $spec (PyPI)"
    local pip_args=(install --quiet --disable-pip-version-check --no-input)
    # Debian's own python3 is "externally managed" (PEP 668); a pyenv or venv python is not.
    if python3 -c 'import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
        pip_args+=(--break-system-packages)
    fi
    PIP_ROOT_USER_ACTION=ignore "${SUDO[@]}" python3 -m pip "${pip_args[@]}" "$spec"
    python3 -c "import $module" || {
        echo "install-test-deps: $spec installed but python3 cannot import $module" >&2
        exit 1
    }
}
pip_install "$ORAS_PIP_SPEC" oras
pip_install "$SCHEMATHESIS_PIP_SPEC" schemathesis

# playwright-core drives Debian's chromium in the portal's browser tests; `npm ci` installs
# exactly the locked version (it downloads no browser).
browser_tests=$(cd "$(dirname "$0")/../tests/browser" && pwd)
if ! [[ -f $browser_tests/node_modules/playwright-core/package.json ]]; then
    echo "install-test-deps: installing playwright-core (npm) into tests/browser"
    (cd "$browser_tests" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Garage, the S3-compatible server of the storage and HA tests: a Rust program on crates.io, run
# as a separate process (AGPL: never linked into Berth). Built once, kept in ~/.cargo/bin.
if ! command -v garage >/dev/null 2>&1 && ! [[ -x $HOME/.cargo/bin/garage ]]; then
    echo "install-test-deps: building garage (cargo install garage --locked; about 15 minutes)"
    cargo install garage --locked --quiet
fi

# cargo-fuzz, which builds and runs the fuzz targets of scripts/fuzz (on the stable compiler).
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "install-test-deps: building cargo-fuzz (cargo install cargo-fuzz --locked; about 2 minutes)"
    cargo install cargo-fuzz --locked --quiet
fi

echo "install-test-deps: skopeo, podman, buildah, docker-registry, wrk, curl, nginx, openssl, PostgreSQL, chromium, playwright-core, garage, cargo-fuzz, oras-py and schemathesis are present"
