#!/usr/bin/env bash
# Checks that this machine has what Weaver needs, and says how to install each missing piece.
#   scripts/doctor.sh run     what ./scripts/run.sh needs (Rust 1.95 + wasm targets, a C linker,
#                             Node >= 20.19 with npm, python3 with venv)
#   scripts/doctor.sh test    the above plus what ./scripts/test.sh needs (PostgreSQL reachable
#                             at WEAVER_TEST_PG_URL, Debian's chromium for the browser tests, the
#                             sqlite3 shell for the views walk)
# run.sh and test.sh call it first. Exit status 1 when anything is missing, after listing all of it.
set -uo pipefail
cd "$(dirname "$0")/.."

mode="${1:-test}"
case "$mode" in run | test) ;; *) echo "usage: scripts/doctor.sh run|test" >&2; exit 2 ;; esac
missing=0
ok() { echo "doctor: ok      $1"; }
bad() {
    # bad WHAT DEBIAN MACOS
    echo "doctor: MISSING $1" >&2
    echo "        Debian/Ubuntu: $2" >&2
    echo "        macOS:         $3" >&2
    missing=$((missing + 1))
}
# version_ge HAVE WANT: dotted versions, numerically.
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

rustup_line='curl --proto =https -sSf https://sh.rustup.rs | sh -s -- -y --default-toolchain 1.95'
if command -v cargo >/dev/null && command -v rustc >/dev/null; then
    have="$(rustc --version | awk '{print $2}')"
    if version_ge "$have" 1.95.0; then ok "Rust $have"; else
        bad "Rust >= 1.95 (found $have)" "rustup toolchain install 1.95 && rustup default 1.95" "rustup toolchain install 1.95 && rustup default 1.95"
    fi
    if command -v rustup >/dev/null; then
        installed="$(rustup target list --installed 2>/dev/null)"
        for t in wasm32-wasip2 wasm32-unknown-unknown; do
            # The build scripts add the targets themselves; do it here so the check is true.
            if grep -qx "$t" <<<"$installed" || rustup target add "$t" >/dev/null 2>&1; then ok "Rust target $t"; else
                bad "Rust target $t" "rustup target add $t" "rustup target add $t"
            fi
        done
    else
        bad "rustup (to add the wasm32-wasip2 and wasm32-unknown-unknown targets)" "$rustup_line" "$rustup_line"
    fi
else
    bad "Rust 1.95 (cargo, rustc)" "$rustup_line" "$rustup_line"
fi
if command -v cc >/dev/null; then ok "C compiler and linker (cc)"; else
    bad "a C compiler and linker (cc)" "sudo apt-get install -y build-essential" "xcode-select --install"
fi
# jemalloc, the binary's allocator, is configured and built with make.
if command -v make >/dev/null; then ok "make (builds jemalloc)"; else
    bad "make (builds jemalloc, the binary's allocator)" "sudo apt-get install -y build-essential" "xcode-select --install"
fi
if command -v node >/dev/null && command -v npm >/dev/null; then
    have="$(node --version | tr -d v)"
    if version_ge "$have" 20.19.0; then ok "Node $have and npm"; else
        bad "Node >= 20.19 (found $have)" "see https://github.com/nodesource/distributions (Node 20 or 22)" "brew install node@22"
    fi
else
    bad "Node >= 20.19 with npm" "sudo apt-get install -y nodejs npm   (Debian 13 / Ubuntu 24.10+; older: NodeSource)" "brew install node@22"
fi
if command -v python3 >/dev/null; then
    if python3 -c 'import venv, ensurepip' 2>/dev/null; then ok "python3 $(python3 -c 'import sys; print(sys.version.split()[0])') with venv"; else
        bad "python3's venv module (with ensurepip)" "sudo apt-get install -y python3-venv" "brew install python@3.12"
    fi
else
    bad "python3 with venv" "sudo apt-get install -y python3 python3-venv" "brew install python@3.12"
fi

if [[ "$mode" == test ]]; then
    pg_url="${WEAVER_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    hostport="$(sed -E 's#^[a-z]+://([^@/]*@)?([^/?]*).*#\2#' <<<"$pg_url")"
    host="${hostport%:*}"
    port="${hostport##*:}"
    [[ "$port" == "$hostport" ]] && port=5432
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then ok "PostgreSQL answers at $host:$port"; else
        bad "PostgreSQL at $host:$port (WEAVER_TEST_PG_URL; the Postgres contract tests need it, trust or password auth)" \
            "sudo apt-get install -y postgresql && sudo pg_ctlcluster \$(ls /etc/postgresql) main start" \
            "brew install postgresql@16 && brew services start postgresql@16"
    fi
    chromium="${CHROMIUM:-/usr/bin/chromium}"
    if [[ -x "$chromium" ]]; then ok "Chromium ($chromium)"; else
        bad "Chromium for the browser tests ($chromium; set CHROMIUM to use another path)" \
            "sudo apt-get install -y chromium" \
            "brew install --cask chromium && export CHROMIUM=/Applications/Chromium.app/Contents/MacOS/Chromium"
    fi
    if command -v "${SQLITE3:-sqlite3}" >/dev/null; then ok "sqlite3 shell (the views walk seeds its orders with it)"; else
        bad "the sqlite3 shell for the dashboard's views walk (haro/e2e/views-walk.mjs; set SQLITE3 to use another)" \
            "sudo apt-get install -y sqlite3" \
            "brew install sqlite"
    fi
fi

if ((missing > 0)); then
    echo "doctor: $missing missing; install them with the lines above, then run this again (scripts/doctor.sh $mode)" >&2
    exit 1
fi
echo "doctor: everything ./scripts/$mode.sh needs is here"
