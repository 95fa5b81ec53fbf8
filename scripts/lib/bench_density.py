#!/usr/bin/env python3
"""Density benchmark driver for `weaver serve` (see scripts/bench-density.sh, which builds the
binary and calls this once per backend and run count).

One measurement: a fresh store (SQLite data dir or a new PostgreSQL database), GOOG daily
candles imported, `weaver serve` paced at DENSITY_PACE_MS per bar, only sma-cross registered.
Then:
  1. N sma-cross paper runs on `sim` are started one after the other (`POST /runs` on one
     keep-alive connection, as a client scripting starts would): each start's latency.
  2. Settle, then a measurement window: `/healthz` polled ~20 times a second and
     `GET /runs?limit=100` once a second on their own connections, RSS read from /proc.
  3. Every run's figures from the paged `GET /runs` (following `Link: rel="next"`): the p99
     gap between two bars and the p99 guest call (bar -> intent) of each run.
  4. A sample of runs is stopped; once each has stored its final figures, its events in the
     outbox are counted against them: `strategy.DecisionMade` (one per guest call after `init`)
     and `orders.Intent` (one per `orders` row).

Prints one table row (and a JSON line with everything) on stdout; progress on stderr.
"""

import http.client
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.environ["DENSITY_BIN"]
BACKEND = os.environ.get("DENSITY_BACKEND", "sqlite")
RUNS = int(os.environ.get("DENSITY_RUNS", "300"))
PACE_MS = int(os.environ.get("DENSITY_PACE_MS", "1000"))
SETTLE_S = float(os.environ.get("DENSITY_SETTLE_S", "15"))
MEASURE_S = float(os.environ.get("DENSITY_MEASURE_S", "30"))
SAMPLE = int(os.environ.get("DENSITY_SAMPLE", "50"))
CSV = os.environ.get("DENSITY_CSV", "testdata/generated/ohlcv/GOOG.csv")
STRATEGY = os.environ.get("DENSITY_STRATEGY", "strategies/dist/sma-cross.wasm")
PG_ADMIN = os.environ.get("WEAVER_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
KEEP = os.environ.get("DENSITY_KEEP") == "1"
# Past this many seconds of starting, stop starting and measure the runs started so far.
START_BUDGET_S = float(os.environ.get("DENSITY_START_BUDGET_S", "600"))


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}] density {BACKEND} {RUNS}:", *a, file=sys.stderr, flush=True)


def pct(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port, timeout=120):
        self.port, self.timeout = port, timeout
        self.conn = None

    def request(self, method, path, body=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                headers = {"content-type": "application/json"} if body is not None else {}
                self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, dict(r.getheaders()), data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def json(self, method, path, body=None, want=200):
        status, headers, data = self.request(method, path, body)
        if status != want:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data), headers


def rss_mb(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def psql(url, sql):
    out = subprocess.run(["psql", "-qAtX", url, "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout


def main():
    data = tempfile.mkdtemp(prefix="weaver-density-")
    env = dict(os.environ)
    port = free_port()
    env.update(
        WEAVER_DATA_DIR=f"{data}/db",
        WEAVER_BIND=f"127.0.0.1:{port}",
        WEAVER_LOG=os.environ.get("DENSITY_LOG", "warn"),
        WEAVER_STRATEGIES_DIR=f"{data}/strategies",
        WEAVER_RUN_BAR_INTERVAL_MS=str(PACE_MS),
        WEAVER_SAMPLE_DATA="off",
    )
    env.pop("WEAVER_API_KEY", None)
    pg_db = None
    if BACKEND == "pg":
        pg_db = f"weaver_density_{os.getpid()}"
        psql(PG_ADMIN, f"create database {pg_db}")
        env["WEAVER_DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/" + pg_db
    else:
        env.pop("WEAVER_DATABASE_URL", None)
    os.makedirs(f"{data}/strategies")
    subprocess.run(["cp", STRATEGY, f"{data}/strategies/"], check=True)
    subprocess.run([BIN, "data", "import", CSV, "--symbol", "GOOG", "--timeframe", "1Day"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    serve_log = open(f"{data}/serve.log", "w")
    server = subprocess.Popen([BIN, "serve"], env=env, stdout=serve_log, stderr=subprocess.STDOUT)
    try:
        return measure(server, port, env, data)
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=120)
            except subprocess.TimeoutExpired:
                server.kill()
        if pg_db and not KEEP:
            psql(PG_ADMIN, f"drop database if exists {pg_db} with (force)")
        if not KEEP:
            subprocess.run(["rm", "-rf", data])
        else:
            log(f"kept {data}")


def measure(server, port, env, data):
    c = Client(port)
    for _ in range(600):
        try:
            if c.request("GET", "/healthz")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.2)
    for _ in range(1200):
        body, _ = c.json("GET", "/strategies?name=sma-cross")
        if any(s["status"] == "ready" for s in body):
            break
        time.sleep(0.5)
    time.sleep(2)
    idle = rss_mb(server.pid)
    log(f"idle RSS {idle:.0f} MB; starting {RUNS} runs")

    # 1. Starts, one after the other.
    req = {"strategy": "sma-cross", "mode": "paper", "venue": "sim", "symbols": ["GOOG"], "timeframe": "1Day",
           "params": {"fast": 10, "slow": 30}}
    starts, ids = [], []
    t0 = time.monotonic()
    for i in range(RUNS):
        s = time.monotonic()
        run, _ = c.json("POST", "/runs", req, want=201)
        starts.append((time.monotonic() - s) * 1000.0)
        ids.append(run["id"])
        if (i + 1) % 500 == 0:
            log(f"{i + 1} started, last 500 avg {sum(starts[-500:]) / 500:.1f} ms, RSS {rss_mb(server.pid):.0f} MB")
        if time.monotonic() - t0 > START_BUDGET_S:
            log(f"start budget of {START_BUDGET_S:.0f} s spent: measuring the {i + 1} runs started")
            break
    start_total = time.monotonic() - t0
    log(f"all started in {start_total:.0f} s; settling {SETTLE_S:.0f} s")
    time.sleep(SETTLE_S)

    # 2. The measurement window: /healthz and a page of /runs while every run trades.
    health, pages, stop = [], [], threading.Event()

    def poll(path, every, out):
        cl = Client(port, timeout=30)
        while not stop.is_set():
            s = time.monotonic()
            try:
                status, _, _ = cl.request("GET", path)
                if status == 200:
                    out.append((time.monotonic() - s) * 1000.0)
            except OSError:
                out.append(30_000.0)
            time.sleep(max(0.0, every - (time.monotonic() - s)))

    threads = [threading.Thread(target=poll, args=("/healthz", 0.05, health)),
               threading.Thread(target=poll, args=("/runs?limit=100", 1.0, pages))]
    for t in threads:
        t.start()
    cpu0 = cpu_seconds(server.pid)
    time.sleep(MEASURE_S)
    cpu1 = cpu_seconds(server.pid)
    with open("/proc/loadavg") as f:
        load = float(f.read().split()[0])
    stop.set()
    for t in threads:
        t.join()
    rss = rss_mb(server.pid)
    hwm = rss_mb(server.pid, "VmHWM")

    # 3. Every run's figures, through the paged list.
    figures, path, listed, mine = {}, "/runs?limit=500", 0, set(ids)
    while path:
        body, headers = c.json("GET", path)
        listed += len(body)
        for r in body:
            if r["id"] in mine and r.get("figures"):
                figures[r["id"]] = r["figures"]
        m = re.search(r'<([^>]+)>;\s*rel="next"', headers.get("link", headers.get("Link", "")))
        path = m.group(1) if m else None
    running = sum(1 for f in figures.values() if f.get("orders_placed") is None)
    gaps = [f["bar_gap_p99_us"] / 1e6 for f in figures.values()]
    calls = [f["call_p99_us"] / 1e3 for f in figures.values()]
    bars = [f["bars"] for f in figures.values()]

    # 4. Events against figures for a sample of runs, once they stopped and stored everything.
    sample = random.Random(7).sample(ids, min(SAMPLE, len(ids)))
    for i in sample:
        c.json("POST", f"/runs/{i}/stop")
    final = {}
    deadline = time.monotonic() + 120
    while len(final) < len(sample) and time.monotonic() < deadline:
        for i in sample:
            if i in final:
                continue
            run, _ = c.json("GET", f"/runs/{i}")
            f = run.get("figures") or {}
            if run["status"] != "running" and f.get("orders_placed") is not None:
                final[i] = f
        time.sleep(1)
    time.sleep(3)
    final = {i: c.json("GET", f"/runs/{i}")[0]["figures"] for i in final}
    lost, dup, checked_decisions, order_gap = events_check(env, final)
    latencies = decision_latencies(env)
    decision_p99, decisions_timed = pct(latencies, 99) / 1e3, len(latencies)

    result = {
        "runs": RUNS, "started": len(ids), "backend": BACKEND, "pace_ms": PACE_MS,
        "start_avg_ms": sum(starts) / len(starts), "start_p99_ms": pct(starts, 99),
        "start_first10_avg_ms": avg(starts[: max(1, len(starts) // 10)]),
        "start_last10_avg_ms": avg(starts[-max(1, len(starts) // 10):]),
        "start_total_s": start_total,
        "idle_rss_mb": idle, "rss_mb": rss, "hwm_mb": hwm, "mb_per_run": (rss - idle) / len(ids),
        "cpu_percent": 100.0 * (cpu1 - cpu0) / MEASURE_S, "loadavg_1m": load,
        "decision_latency_p99_ms": decision_p99, "decisions_timed": decisions_timed,
        "listed": listed, "active_with_figures": running,
        "bar_gap_p99_s_max": max(gaps, default=0), "bar_gap_p99_s_median": pct(gaps, 50),
        "runs_over_1_1s": sum(1 for g in gaps if g > 1.1),
        "call_p99_ms_max": max(calls, default=0), "call_p99_ms_median": pct(calls, 50),
        "bars_min": min(bars, default=0), "bars_max": max(bars, default=0),
        "healthz_p99_ms": pct(health, 99), "healthz_n": len(health),
        "runs_page_p99_ms": pct(pages, 99),
        "sample": len(final), "decisions_checked": checked_decisions, "lost": lost, "duplicated": dup,
        "order_event_mismatch": order_gap,
    }
    print(json.dumps(result), flush=True)
    return result


def avg(v):
    return sum(v) / len(v) if v else 0.0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def decision_latencies(env, newest=300_000):
    """Wall time (µs) of the newest guest calls of every run, from their `strategy.DecisionMade`
    events: the bar -> intents latency across all runs."""
    sql = ("select {} from outbox where event_type = 'strategy.DecisionMade' "
           f"order by id desc limit {newest}")
    if BACKEND == "pg":
        out = psql(env["WEAVER_DATABASE_URL"], sql.format("payload->>'latency_us'"))
        return [int(v) for v in out.split()]
    db = sqlite3.connect(f"file:{env['WEAVER_DATA_DIR']}/weaver.db?mode=ro", uri=True, timeout=30)
    rows = [r[0] for r in db.execute(sql.format("json_extract(payload, '$.latency_us')"))]
    db.close()
    return rows


def events_check(env, final):
    """Per sampled run: `strategy.DecisionMade` events in the outbox against its guest calls after
    `init` (lost: fewer distinct decisions than calls; duplicated: the same decision twice), and
    `orders.Intent` events against its `orders` rows."""
    if not final:
        return 0, 0, 0, 0
    ids = ",".join(str(i) for i in final)
    id_texts = ",".join(f"'{i}'" for i in final)
    if BACKEND == "pg":
        url = env["WEAVER_DATABASE_URL"]
        rows = psql(url, f"select run_id, count(*), count(distinct (payload->>'cause_event_id') || (payload->>'bar_ts')) "
                         f"from outbox where event_type = 'strategy.DecisionMade' and run_id in ({id_texts}) group by run_id")
        dec = {int(r.split("|")[0]): (int(r.split("|")[1]), int(r.split("|")[2])) for r in rows.split()}
        rows = psql(url, f"select run_id, count(*) from outbox where event_type = 'orders.Intent' and run_id in ({id_texts}) group by run_id")
        intents = {int(r.split("|")[0]): int(r.split("|")[1]) for r in rows.split()}
        rows = psql(url, f"select run_id, count(*) from orders where run_id in ({ids}) group by run_id")
        orders = {int(r.split("|")[0]): int(r.split("|")[1]) for r in rows.split()}
    else:
        db = sqlite3.connect(f"file:{env['WEAVER_DATA_DIR']}/weaver.db?mode=ro", uri=True, timeout=30)
        dec = {int(r[0]): (r[1], r[2]) for r in db.execute(
            f"select run_id, count(*), count(distinct json_extract(payload, '$.cause_event_id') || json_extract(payload, '$.bar_ts')) "
            f"from outbox where event_type = 'strategy.DecisionMade' and run_id in ({id_texts}) group by run_id")}
        intents = {int(r[0]): r[1] for r in db.execute(
            f"select run_id, count(*) from outbox where event_type = 'orders.Intent' and run_id in ({id_texts}) group by run_id")}
        orders = {int(r[0]): r[1] for r in db.execute(
            f"select run_id, count(*) from orders where run_id in ({ids}) group by run_id")}
        db.close()
    lost = dup = checked = order_gap = 0
    for i, f in final.items():
        total, distinct = dec.get(i, (0, 0))
        expected = f["calls"] - 1
        checked += expected
        lost += max(0, expected - distinct)
        dup += total - distinct + max(0, distinct - expected)
        order_gap += abs(intents.get(i, 0) - orders.get(i, 0))
    return lost, dup, checked, order_gap


if __name__ == "__main__":
    main()
