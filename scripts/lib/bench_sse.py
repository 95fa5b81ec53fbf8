"""The client side of scripts/bench-sse.sh: N raw-socket SSE clients without a cursor.

Usage: bench_sse.py HOST:PORT PID CLIENTS EXPECTED_EVENTS

Connects CLIENTS clients to GET /events/stream at once, times GET /strategies every 100 ms while
they replay, waits until each has received EXPECTED_EVENTS events (the replay cap, or every
stored event when fewer), then keeps them connected and idle for 10 s and reads the server's
CPU time (utime + stime of /proc/PID/stat) across that window and its RSS. Prints the figures.
"""

import asyncio
import os
import statistics
import sys
import time

HOST, PORT = sys.argv[1].rsplit(":", 1)
PID = int(sys.argv[2])
CLIENTS = int(sys.argv[3])
EXPECTED = int(sys.argv[4])
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    with open(f"/proc/{PID}/stat") as f:
        # The command name may hold spaces: fields count from after its closing parenthesis.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb() -> int:
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1


class Client:
    def __init__(self) -> None:
        self.bytes = 0
        self.events = 0
        self.done = asyncio.Event()
        self.error = None

    async def run(self, stop: asyncio.Event) -> None:
        try:
            r, w = await asyncio.open_connection(HOST, int(PORT))
            w.write(
                f"GET /events/stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            await w.drain()
            tail = b""
            while not stop.is_set():
                chunk = await r.read(65536)
                if not chunk:
                    self.error = "closed"
                    break
                self.bytes += len(chunk)
                # Each event starts with its id line; keep a few bytes across reads.
                seen = tail + chunk
                self.events += seen.count(b"\nid: ") + seen.startswith(b"id: ") - tail.count(b"\nid: ")
                tail = seen[-8:]
                if self.events >= EXPECTED:
                    self.done.set()
            w.close()
        except OSError as e:
            self.error = str(e)
        finally:
            self.done.set()


# The latency probe runs in a process of its own: in this event loop it would wait behind the
# thousands of sockets being read and measure this script, not the server.
PROBE = r"""
import http.client, sys, time
host, port = sys.argv[1], int(sys.argv[2])
while True:
    start = time.monotonic()
    c = http.client.HTTPConnection(host, port, timeout=120)
    c.request("GET", "/strategies", headers={"Host": "localhost"})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
    c.close()
    print(time.monotonic() - start, flush=True)
    time.sleep(0.1)
"""


async def probe_start() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, HOST, PORT, stdout=asyncio.subprocess.PIPE
    )


async def probe_stop(p: asyncio.subprocess.Process) -> list[float]:
    p.terminate()
    out, _ = await p.communicate()
    return [float(x) for x in out.split()]


async def main() -> None:
    p = await probe_start()
    await asyncio.sleep(1)
    baseline = await probe_stop(p)
    # The server's own idle cost, before any client: what the clients add is the difference.
    quiet0 = cpu_seconds()
    await asyncio.sleep(10)
    quiet = cpu_seconds() - quiet0
    quiet_rss = rss_mb()
    stop = asyncio.Event()
    clients = [Client() for _ in range(CLIENTS)]
    t0 = time.monotonic()
    cpu0 = cpu_seconds()
    tasks = [asyncio.create_task(c.run(stop)) for c in clients]
    all_done = asyncio.create_task(asyncio.wait([asyncio.create_task(c.done.wait()) for c in clients]))
    p = await probe_start()
    try:
        await asyncio.wait_for(all_done, 600)
    except asyncio.TimeoutError:
        pass
    latencies = await probe_stop(p)
    storm = time.monotonic() - t0
    storm_cpu = cpu_seconds() - cpu0
    failed = [c.error for c in clients if c.error]
    short = sum(1 for c in clients if c.events < EXPECTED)
    sent = sum(c.bytes for c in clients)
    peak_rss = rss_mb()
    # Idle: every client connected, nothing written.
    await asyncio.sleep(2)
    idle0 = cpu_seconds()
    await asyncio.sleep(10)
    idle = cpu_seconds() - idle0
    connected = sum(1 for c in clients if not c.error)
    print(f"clients: {CLIENTS} without a cursor, {EXPECTED} events each expected")
    print(f"replay storm: {storm:.1f} s, server CPU {storm_cpu:.1f} s; {short} clients short of {EXPECTED} events; errors: {len(failed)} {sorted(set(failed))[:3]}")
    print(f"bytes sent to all clients: {sent} ({sent / 1e6:.1f} MB, {sent / max(CLIENTS, 1) / 1024:.0f} KiB per client)")
    print(
        f"GET /strategies: idle median {statistics.median(baseline) * 1000:.0f} ms; during the storm "
        f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms ({len(latencies)} requests)"
    )
    print(f"server CPU over 10 s with {connected} idle connected clients: {idle:.2f} s (no client: {quiet:.2f} s)")
    print(f"server RSS: {rss_mb()} MB with the clients (no client: {quiet_rss} MB; right after the storm {peak_rss} MB)")
    stop.set()
    for t in tasks:
        t.cancel()


asyncio.run(main())
