# Sourced by scripts/run and scripts/test: install what is missing, then
# provide $GROWSTACK_PY, the Python of the project's virtual environment.
# Idempotent: a second run installs nothing and takes a second.

set -euo pipefail

GROWSTACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GROWSTACK_VENV=${GROWSTACK_VENV:-$GROWSTACK_ROOT/.venv}

# Debian packages every growstack user needs; arch-specific toolchains are
# installed by growstack itself when a target needs them.
GROWSTACK_DEBS=(git python3 python3-venv build-essential flex bison bc libelf-dev
                libssl-dev ccache xz-utils qemu-system-x86
                perl python3-ply python3-git)  # checkpatch.pl and its spdxcheck.py

say() { printf 'growstack-setup: %s\n' "$*" >&2; }

missing_debs() {
    local pkg
    for pkg in "${GROWSTACK_DEBS[@]}"; do
        dpkg-query -W -f '${Status}\n' "$pkg" 2>/dev/null | grep -q ' installed$' ||
            printf '%s\n' "$pkg"
    done
}

install_debs() {
    command -v dpkg-query >/dev/null || { say "not Debian/Ubuntu: install ${GROWSTACK_DEBS[*]} by hand"; return 0; }
    local missing
    missing=$(missing_debs | tr '\n' ' ')
    [ -z "$missing" ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { say "missing packages: $missing; install them as root"; exit 8; }
        sudo=(sudo)
    fi
    say "installing $missing"
    "${sudo[@]}" apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends $missing >/dev/null
}

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

make_venv() {
    local stamp=$GROWSTACK_VENV/.growstack-stamp want
    want=$(sha256sum < "$GROWSTACK_ROOT/pyproject.toml" | cut -d' ' -f1)
    if [ -x "$GROWSTACK_VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    local py
    py=$(command -v python3)
    python_ok "$py" || { say "python3 is older than 3.11; install a newer one"; exit 8; }
    say "creating $GROWSTACK_VENV"
    "$py" -m venv "$GROWSTACK_VENV"
    local log=$GROWSTACK_VENV/pip-install.log
    if ! "$GROWSTACK_VENV/bin/python" -m pip install -e "$GROWSTACK_ROOT[test]" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        say "pip could not install growstack (log: $log); check network access to PyPI"
        exit 8
    fi
    echo "$want" > "$stamp"
}

install_debs
make_venv
GROWSTACK_PY=$GROWSTACK_VENV/bin/python
export PATH="$GROWSTACK_VENV/bin:$PATH"
