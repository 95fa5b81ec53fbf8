"""The `weaver worker` legs of scripts/bench-optimize.sh: the same grid posted to a `weaver serve`
with WEAVER_WORKERS=external on a fresh PostgreSQL database and run by N `weaver worker`
processes (one thread each), timed from the POST to the sweep's `done`. Writes one JSON leg per
worker count in bench.py's format. BENCH_WEAVER_LOG sets the processes' WEAVER_LOG (default
`warn`; `warn,weaver::app::worker=info,weaver::greta=debug` logs each worker's load times into
DIR). Standard library only.

Usage: workers.py --weaver BIN --csv CSV --component WASM --fast A:B:S --slow A:B:S --bars N
                  --pg-admin URL --work DIR --out-prefix PATH [--counts 1,2]
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid


def axis(text):
    a, b, s = (int(x) for x in text.split(":"))
    return list(range(a, b + 1, s))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(admin, name):
    base, _, query = admin.partition("?")
    cut = base.rfind("/")
    if cut <= len("postgres://"):
        cut = len(base)
    return base[:cut] + "/" + name + ("?" + query if query else "")


def psql(admin, sql):
    subprocess.run(["psql", admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")


def wait(what, check, limit=600, every=0.2):
    start = time.monotonic()
    while True:
        try:
            got = check()
            if got:
                return got
        except OSError:
            pass
        if time.monotonic() - start > limit:
            sys.exit(f"bench: workers: {what} not reached after {limit} s")
        time.sleep(every)


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    p = argparse.ArgumentParser()
    for a in ("--weaver", "--csv", "--component", "--fast", "--slow", "--pg-admin", "--work",
              "--out-prefix"):
        p.add_argument(a, required=True)
    p.add_argument("--bars", type=int, required=True)
    p.add_argument("--counts", default="1,2")
    p.add_argument("--cash", type=float, default=float(os.environ.get("BENCH_CASH", "1000000")))
    p.add_argument("--commission", type=float,
                   default=float(os.environ.get("BENCH_COMMISSION", "0.0001")))
    args = p.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    fast, slow = axis(args.fast), axis(args.slow)
    name = f"weaver_bench_{uuid.uuid4().hex[:12]}"
    url = with_database(args.pg_admin, name)
    shutil.rmtree(args.work, ignore_errors=True)
    strategies = os.path.join(args.work, "strategies")
    os.makedirs(strategies)
    shutil.copy(args.component, os.path.join(strategies, "sma-cross.wasm"))
    psql(args.pg_admin, f"create database {name}")
    procs = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEAVER_", "APCA_"))}
    env.update(WEAVER_DATABASE_URL=url, WEAVER_LOG=os.environ.get("BENCH_WEAVER_LOG", "warn"),
               WEAVER_SAMPLE_DATA="off")
    try:
        print(f"bench: workers: importing {args.bars:,} bars into PostgreSQL ({name})")
        subprocess.run([args.weaver, "data", "import", "--symbol", "BENCH", "--timeframe", "1Min",
                        args.csv], env=env, check=True, stdout=subprocess.DEVNULL)
        # The bars at rest, as in a deployment where they were imported long before: otherwise
        # autovacuum's first pass over a million new rows lands in the middle of a timed leg.
        psql(url, "vacuum (analyze) candles")
        port = free_port()
        serve_env = dict(env, WEAVER_WORKERS="external", WEAVER_BIND=f"127.0.0.1:{port}",
                         WEAVER_DATA_DIR=os.path.join(args.work, "serve"),
                         WEAVER_STRATEGIES_DIR=strategies)
        log = open(os.path.join(args.work, "serve.log"), "w")
        procs.append(subprocess.Popen([args.weaver, "serve"], env=serve_env, stdout=log,
                                      stderr=log))
        api = Api(port)
        wait("the server", lambda: api.call("GET", "/healthz"))
        wait("sma-cross compiled", lambda: any(
            s["name"] == "sma-cross" and s["status"] == "ready"
            for s in api.call("GET", "/strategies")))

        def start_workers(n, bar_cache=True):
            out = []
            for k in range(n):
                wlog = open(os.path.join(args.work, f"worker-{k}.log"), "a")
                cache = {} if bar_cache else {"WEAVER_BAR_CACHE_MB": "0"}
                out.append(subprocess.Popen(
                    [args.weaver, "worker", "--threads", "1", "--name", f"bench-{k}"],
                    env=dict(env, WEAVER_DATA_DIR=os.path.join(args.work, f"worker-{k}"),
                             **cache),
                    stdout=wlog, stderr=wlog))
            return out

        def stop(workers):
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(timeout=60)

        def sweep(fasts, slows):
            body = {"strategy": "sma-cross", "symbols": ["BENCH"], "timeframe": "1Min",
                    "cash": args.cash, "commission": args.commission,
                    "space": {"fast": fasts, "slow": slows}, "method": {"kind": "grid"},
                    "objective": {"metric": "equity_final", "direction": "max"}}
            return api.call("POST", "/sweeps", body)["id"]

        def finished(sid):
            # One result a poll: the status is all the wait needs, and the server and the
            # database share the cores the workers are timed on (a poll for every result, ten
            # times a second, took CPU from the two-worker leg that the one-worker leg had spare).
            v = api.call("GET", f"/sweeps/{sid}?limit=1")
            if v["status"] in ("failed", "cancelled"):
                sys.exit(f"bench: workers: sweep {sid} {v['status']}: {v.get('error')}")
            return v if v["status"] == "done" else None

        # Warm-up: every worker compiles the component into its own cache once, and keeps the
        # grid's bars in its bar cache (WEAVER_BAR_CACHE_MB), as after a user's first sweep over
        # a series. Each count runs twice: with that cache (the headline figure: a research
        # session's next sweep) and with it off (every worker reads the million bars from
        # PostgreSQL, as the first sweep over a series does).
        most = max(counts)
        workers = start_workers(most)
        warm = sweep(fast[:most], slow[:1])
        wait("the warm-up sweep", lambda: finished(warm), limit=3600)
        stop(workers)
        for n, bar_cache in [(n, c) for n in counts for c in (True, False)]:
            label = f"Weaver {n} worker" + ("s" if n > 1 else "")
            if not bar_cache:
                label += ", no bar cache"
            workers = start_workers(n, bar_cache)
            time.sleep(1.5)  # started and polling: the timing is the sweep's, not a start-up's
            load = [os.getloadavg()[0]]
            t0 = time.perf_counter()
            sid = sweep(fast, slow)
            v = wait(f"{label}'s sweep", lambda: finished(sid), limit=7200, every=0.1)
            seconds = time.perf_counter() - t0
            v = api.call("GET", f"/sweeps/{sid}?limit=1000")
            load.append(os.getloadavg()[0])
            cpu0 = cpu_children()
            stop(workers)
            # The workers' CPU time (children's, counted once they were waited for), less the
            # 1.5 s idle start each.
            cpu = cpu_children() - cpu0
            results = {}
            for point in v["results"]:
                if point["status"] != "done":
                    sys.exit(f"bench: workers: point {point['index']} failed: {point['error']}")
                key = f"{int(point['params']['fast'])},{int(point['params']['slow'])}"
                m = point["metrics"]
                results[key] = [int(m["trades"]), float(m["equity_final"])]
            if len(results) != len(fast) * len(slow):
                sys.exit(f"bench: workers: {len(results)} results for {len(fast) * len(slow)}")
            out = f"{args.out_prefix}-{n}{'' if bar_cache else '-cold'}.json"
            with open(out, "w") as f:
                json.dump({"label": label, "points": len(results), "bars": args.bars,
                           "seconds": seconds, "cpu_s": cpu, "load": load, "results": results},
                          f, indent=1)
            print(f"bench: {label}: {len(results)} points in {seconds:.1f} s (CPU {cpu:.1f} s)")
            print(out, file=sys.stderr)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        psql(args.pg_admin, f"drop database if exists {name} with (force)")


if __name__ == "__main__":
    main()
