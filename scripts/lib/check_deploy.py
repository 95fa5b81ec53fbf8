"""Policy checks of the deployment files, run by scripts/check-deploy.sh with its tools' venv.

Usage: python scripts/lib/check_deploy.py WORK_DIR
WORK_DIR holds prod.json, prod-obs.json, dev.json and dev-obs.json: the compose files merged and
interpolated by `docker compose config --format json`. Every problem is listed, then the script
exits non-zero if there was any.
"""

import fnmatch
import json
import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
problems: list[str] = []


def ok(msg: str, since: int) -> None:
    """Reports a section as passed when it added no problem since `since`."""
    if len(problems) == since:
        print(f"check-deploy: ok - {msg}")


def check(cond: bool, msg: str) -> None:
    if not cond:
        problems.append(msg)


def code_variables() -> set[str]:
    """Every WEAVER_*/APCA_* name in the host's source: what the code reads or names to users."""
    names: set[str] = set()
    for path in (ROOT / "host" / "src").rglob("*.rs"):
        names |= set(re.findall(r"\b(?:WEAVER|APCA)_[A-Z0-9_]+\b", path.read_text()))
    return names


def env_file_names(path: Path) -> set[str]:
    """Variables an env template documents, set or commented out (`#NAME=`)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", path.read_text(), re.M))


def published(service: dict) -> list[tuple[str, str]]:
    return [(p.get("host_ip", ""), str(p.get("published", ""))) for p in service.get("ports", [])]


def check_compose(work: Path) -> None:
    since = len(problems)
    prod = json.loads((work / "prod.json").read_text())
    obs = json.loads((work / "prod-obs.json").read_text())
    dev = json.loads((work / "dev.json").read_text())
    services = prod["services"]
    check(set(services) == {"postgres", "backend", "worker", "dashboard"},
          f"base services are postgres, backend, worker, dashboard (got {sorted(services)})")
    check({"prometheus", "grafana"} <= set(obs["services"]),
          "--profile observability adds prometheus and grafana")

    pg = services.get("postgres", {})
    check("pg_isready" in " ".join(pg.get("healthcheck", {}).get("test", [])),
          "postgres has a pg_isready health check")
    check(any(v.get("type") == "volume" and v.get("target") == "/var/lib/postgresql/data"
              for v in pg.get("volumes", [])), "postgres keeps its data on a named volume")
    check(not pg.get("ports"), "postgres is not published in production")

    be = services.get("backend", {})
    env = be.get("environment", {})
    check(env.get("WEAVER_BIND") == "0.0.0.0:8080", "backend binds 0.0.0.0:8080 in its container")
    check(len(env.get("WEAVER_API_KEY") or "") >= 16,
          "backend gets WEAVER_API_KEY (required with the 0.0.0.0 bind)")
    check(str(env.get("WEAVER_DATABASE_URL", "")).startswith("postgres://"),
          "backend uses the postgres service")
    check(be.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy",
          "backend waits for a healthy postgres")
    check(be.get("build", {}).get("target") == "prod", "backend builds the prod target")
    check("healthz" in " ".join(be.get("healthcheck", {}).get("test", [])),
          "backend has a /healthz health check")
    check(any(v.get("target") == "/var/lib/weaver" for v in be.get("volumes", [])),
          "backend keeps WEAVER_DATA_DIR on a volume")
    missing = sorted(code_variables() - set(env))
    check(not missing, f"compose passes every variable the code reads to the backend; missing: {missing}")

    wk = services.get("worker", {})
    wenv = wk.get("environment", {})
    check(wk.get("command") == ["worker"] and wk.get("image") == be.get("image"),
          "worker runs `weaver worker` from the backend's image")
    check(str(wenv.get("WEAVER_DATABASE_URL", "")).startswith("postgres://"),
          "worker uses the postgres service")
    check(env.get("WEAVER_WORKERS") == "external", "the backend hands sweeps to the workers")
    check(wk.get("depends_on", {}).get("backend", {}).get("condition") == "service_healthy",
          "worker waits for a healthy (migrated) backend")
    check(not wk.get("ports"), "worker publishes no port")
    check(wk.get("healthcheck", {}).get("disable") is True,
          "worker turns off the image's HTTP health check (it serves no HTTP)")
    leaked = sorted(k for k in wenv if re.search(r"API_KEY|APCA_|NOTIFY", k))
    check(not leaked, f"worker gets no API, Alpaca or notification secret; got {leaked}")

    da = services.get("dashboard", {})
    check(da.get("depends_on", {}).get("backend", {}).get("condition") == "service_healthy",
          "dashboard waits for a healthy backend")
    check(da.get("build", {}).get("target") == "prod", "dashboard builds the prod target")

    for conf_name, conf in (("prod", obs), ("dev", dev)):
        for name, svc in conf["services"].items():
            for host_ip, port in published(svc):
                check(host_ip == "127.0.0.1",
                      f"{conf_name}: {name} publishes port {port} on {host_ip or 'all interfaces'}, "
                      "not 127.0.0.1 (PUBLISH_ADDR)")
            if conf_name == "prod":
                check(svc.get("restart") in ("unless-stopped", "always"),
                      f"{name} has a restart policy")
            for key in (svc.get("build", {}).get("args") or {}):
                check(not re.search(r"KEY|SECRET|PASSWORD|TOKEN", key, re.I),
                      f"{conf_name}: {name} passes {key} as a build argument (secrets only at run time)")
    check(dev["services"]["backend"]["build"]["target"] == "dev"
          and dev["services"]["dashboard"]["build"]["target"] == "dev",
          "the dev override builds the dev targets")
    check(any(v.get("target") == "/src" for v in dev["services"]["backend"].get("volumes", [])),
          "the dev override mounts the checkout into the backend")
    ok("compose policy: key with the 0.0.0.0 bind, health checks, volumes, restart, 127.0.0.1 ports", since)


def check_env_docs() -> None:
    since = len(problems)
    names = code_variables()
    for template in (".env.example", ".env.dev.example"):
        missing = sorted(names - env_file_names(ROOT / template))
        check(not missing, f"{template} does not document {missing}")
    ignored = (ROOT / ".gitignore").read_text().split()
    check(".env" in ignored and ".env.dev" in ignored, ".gitignore ignores .env and .env.dev")
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    check(".env" in dockerignore and ".env.*" in dockerignore, ".dockerignore keeps .env files out")
    ok(f".env.example and .env.dev.example document all {len(names)} variables the code reads", since)


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, cur = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") and not cur:
            continue
        cur += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            if cur.strip():
                word, _, rest = cur.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            cur = ""
    return out


def ignored_by_dockerignore(rel: str, patterns: list[str]) -> bool:
    hit = False
    for p in patterns:
        neg = p.startswith("!")
        pat = p[1:] if neg else p
        pat = pat.rstrip("/")
        if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat.replace("**/", "")) \
                or rel.startswith(pat + "/"):
            hit = not neg
    return hit


def check_dockerfiles() -> None:
    since = len(problems)
    patterns = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines()
                if l.strip() and not l.startswith("#")]
    haro_ready = (ROOT / "haro" / "package.json").is_file()
    copied = 0
    for rel_file in ("docker/backend/Dockerfile", "haro/Dockerfile"):
        instructions = dockerfile_instructions(ROOT / rel_file)
        targets = {rest.split()[-1] for word, rest in instructions if word == "FROM" and " AS " in rest.upper()}
        for want in ("dev", "prod"):
            check(want in targets, f"{rel_file} has a `{want}` target")
        for word, rest in instructions:
            if word in ("ARG", "ENV"):
                for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest) or rest.split()[:1]:
                    check(not re.search(r"KEY|SECRET|PASSWORD|TOKEN", name, re.I),
                          f"{rel_file}: {word} {name} looks like a secret (pass secrets at run time)")
            if word not in ("COPY", "ADD") or "--from=" in rest:
                continue
            args = [a for a in rest.split() if not a.startswith("--")]
            for src in args[:-1]:
                present = (ROOT / src).exists() or any(ROOT.glob(src))
                if not present and src.startswith("haro/") and not haro_ready:
                    print(f"check-deploy: SKIPPED (haro/package.json does not exist yet): "
                          f"{rel_file} COPY {src}", file=sys.stderr)
                    continue
                check(present, f"{rel_file}: COPY {src}: no such path in the repository")
                check(src in (".", "./") or not ignored_by_dockerignore(src.rstrip("/"), patterns),
                      f"{rel_file}: COPY {src} is excluded by .dockerignore")
                copied += 1
    text = (ROOT / "docker/backend/Dockerfile").read_text()
    check("scripts/build-prod.sh" in text, "the backend image builds with scripts/build-prod.sh")
    check("HEALTHCHECK" in text and "/healthz" in text, "the backend image has a /healthz HEALTHCHECK")
    check(re.search(r"^USER \d+", text, re.M) is not None, "the backend image runs as a numeric non-root user")
    check("VOLUME" in text, "the backend image declares its data volume")
    nginx = (ROOT / "haro/nginx.conf").read_text()
    stream = re.search(r"location = /events/stream \{(.*?)\}", nginx, re.S)
    check(stream is not None and "proxy_buffering off" in stream.group(1)
          and "proxy_read_timeout" in stream.group(1),
          "haro/nginx.conf proxies /events/stream unbuffered with a long read timeout")
    check("client_max_body_size" in nginx, "haro/nginx.conf allows strategy-sized uploads")
    ok(f"Dockerfiles: dev and prod targets, no secret ARG/ENV, {copied} COPY sources present", since)


# Metrics other sessions are adding; the dashboard shows them already.
EXPECTED_METRICS = {
    "weaver_http_requests_total", "weaver_http_request_duration_seconds", "weaver_runs",
    "weaver_strategy_fuel_total", "weaver_strategy_call_duration_seconds",
    "weaver_strategy_memory_bytes", "weaver_strategy_traps_total", "weaver_outbox_lag_events",
    "weaver_outbox_lag_seconds", "weaver_outbox_horizon_stall_seconds",
    "weaver_outbox_poll_wakeups_total", "weaver_listener_reconnects_total",
    "weaver_strategy_compilations_total", "weaver_venue_rate_limit_remaining",
}


def emitted_metrics() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "host" / "src").rglob("*.rs"):
        names |= set(re.findall(r"metrics::(?:counter|gauge|histogram)!\(\s*\"(weaver_[a-z0-9_]+)\"",
                                path.read_text()))
    return names


def check_grafana() -> None:
    since = len(problems)
    dash = json.loads((ROOT / "docker/grafana/weaver-dashboard.json").read_text())
    check(dash.get("uid") and dash.get("title") and isinstance(dash.get("schemaVersion"), int),
          "the Grafana dashboard has uid, title and schemaVersion")
    exprs, ids = [], []
    for panel in dash.get("panels", []):
        ids.append(panel.get("id"))
        check("gridPos" in panel and "type" in panel, f"panel {panel.get('title')} has type and gridPos")
        for target in panel.get("targets", []):
            exprs.append(target.get("expr", ""))
    check(len(ids) == len(set(ids)), "Grafana panel ids are unique")
    shown = " ".join(exprs)
    for metric in sorted(EXPECTED_METRICS | emitted_metrics()):
        check(re.search(rf"\b{metric}(_bucket|_sum|_count)?\b", shown) is not None,
              f"metric {metric} has no panel in docker/grafana/weaver-dashboard.json")
    ok(f"Grafana dashboard: {len(ids)} panels cover every metric the code emits", since)


def check_yaml() -> None:
    since = len(problems)
    yaml = YAML(typ="safe")
    prom = yaml.load((ROOT / "docker/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    check("backend:8080" in json.dumps(jobs.get("weaver", {})), "Prometheus scrapes backend:8080")
    check("X-API-Key" in jobs.get("weaver", {}).get("http_headers", {}),
          "Prometheus sends the API key (from a file) to /metrics")
    for p in (ROOT / "docker/grafana/provisioning").rglob("*.yml"):
        check(yaml.load(p.read_text()).get("apiVersion") == 1, f"{p.relative_to(ROOT)} is Grafana provisioning")
    ok("docker/prometheus.yml and Grafana provisioning parse", since)


def main() -> int:
    work = Path(sys.argv[1])
    check_compose(work)
    check_env_docs()
    check_dockerfiles()
    check_grafana()
    check_yaml()
    for p in problems:
        print(f"check-deploy: FAILED: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
