"""Runs haro/nginx.conf in a real nginx against a stand-in backend and checks what it does.

Usage: python scripts/lib/nginx_smoke.py NGINX_BINARY
Called by scripts/check-deploy.sh. Everything listens on 127.0.0.1 ports picked by the kernel
and is stopped at the end. Checks: the app shell at / and /ui/* (never cached), hashed assets
(cached for a year), every other path proxied with the browser's Host and an X-Request-Id,
/events/stream delivering an event while the backend still holds the stream open, and a
strategy-sized upload accepted. (That `proxy_buffering off` is set on the stream is checked
statically by check_deploy.py: nginx 1.22 happens to pass chunks on even with buffering on.)
"""

import http.client
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
problems: list[str] = []


def check(cond: bool, msg: str) -> None:
    if not cond:
        problems.append(msg)


class Backend(http.server.BaseHTTPRequestHandler):
    """Answers like the API would, echoing what the proxy sent."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/events/stream":
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for i, pause in enumerate((0.0, 2.0)):
                time.sleep(pause)
                chunk = f"id: {i}\ndata: event {i}\n\n".encode()
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        self._json({"path": self.path, "host": self.headers.get("host"),
                    "request_id": self.headers.get("x-request-id")})

    def do_POST(self) -> None:
        n = int(self.headers.get("content-length", "0"))
        got = 0
        while got < n:
            got += len(self.rfile.read(min(65536, n - got)))
        self._json({"path": self.path, "received": got})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers={"host": "localhost", **(headers or {})})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def main() -> int:
    nginx = sys.argv[1]
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="nginx-smoke-"))
    dist = work / "html"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>haro shell</title>")
    (dist / "assets" / "app-1a2b3c.js").write_text("console.log('haro')")
    port = free_port()
    conf = (ROOT / "haro/nginx.conf").read_text()
    conf = conf.replace("${WEAVER_UPSTREAM}", f"127.0.0.1:{backend.server_address[1]}")
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    conf = re.sub(r"\n\s*listen \[::\]:8080;", "", conf)  # the sandbox may have no IPv6
    conf = conf.replace("/usr/share/nginx/html", str(dist))
    conf = conf.replace("/var/log/nginx/", f"{work}/")
    (work / "default.conf").write_text(conf)
    temps = "\n".join(f"    {k}_temp_path {work}/{k};" for k in
                      ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (work / "nginx.conf").write_text(
        f"user root;\nworker_processes 1;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        f"events {{}}\nhttp {{\n{temps}\n    include {work}/default.conf;\n}}\n")
    proc = subprocess.Popen([nginx, "-p", str(work), "-e", f"{work}/error.log",
                             "-c", str(work / "nginx.conf"), "-g", "daemon off;"],
                            stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            problems.append(f"nginx did not start: {(work / 'error.log').read_text() if (work / 'error.log').exists() else ''}")
            return report()

        for path in ("/", "/ui/runs/3", "/ui/backtests"):
            status, headers, body = request(port, "GET", path, {"accept": "text/html"})
            check(status == 200 and b"haro shell" in body, f"GET {path} serves the app shell ({status})")
            check("no-cache" in headers.get("cache-control", ""), f"GET {path}: the shell is not cached")
            check(headers.get("x-frame-options") == "DENY", f"GET {path}: X-Frame-Options DENY")
        status, headers, body = request(port, "GET", "/assets/app-1a2b3c.js")
        check(status == 200 and b"haro" in body, f"an asset is served ({status})")
        check("immutable" in headers.get("cache-control", ""), "assets are cached as immutable")

        for path in ("/runs", "/strategies?name=x", "/openapi.json", "/no-such-route"):
            status, _, body = request(port, "GET", path, {"accept": "text/html"})
            seen = json.loads(body) if status == 200 else {}
            check(seen.get("path") == path, f"GET {path} reaches the backend ({status} {body[:80]!r})")
            check(seen.get("host") == "localhost", f"GET {path}: the browser's Host is passed on ({seen})")
            check(bool(seen.get("request_id")), f"GET {path}: an X-Request-Id is added ({seen})")
        _, _, body = request(port, "GET", "/runs", {"x-request-id": "corr-from-client"})
        check(json.loads(body).get("request_id") == "corr-from-client", "a client's X-Request-Id is kept")

        upload = os.urandom(20 << 20)
        status, _, body = request(port, "POST", "/strategies?name=big", {"content-type": "application/wasm"}, upload)
        check(status == 200 and json.loads(body).get("received") == len(upload),
              f"a 20 MB strategy upload is proxied whole ({status})")

        # SSE: the first event must arrive while the backend still holds the stream open.
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        start = time.monotonic()
        c.request("GET", "/events/stream", headers={"host": "localhost", "accept": "text/event-stream"})
        r = c.getresponse()
        first = r.fp.readline()
        while first in (b"\r\n", b"\n") or re.fullmatch(rb"[0-9a-fA-F]+\r\n", first or b""):
            first = r.fp.readline()
        elapsed = time.monotonic() - start
        check(r.status == 200 and first.startswith(b"id: 0"), f"SSE first line {first!r} ({r.status})")
        check(elapsed < 1.5, f"SSE: the first event took {elapsed:.2f} s: nginx buffers the stream")
        c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        backend.shutdown()
    return report()


def report() -> int:
    for p in problems:
        print(f"check-deploy: FAILED: haro/nginx.conf: {p}", file=sys.stderr)
    if not problems:
        print("check-deploy: ok - nginx serving haro/nginx.conf: app shell, assets, API proxy with "
              "Host and X-Request-Id, unbuffered SSE, 20 MB upload")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
