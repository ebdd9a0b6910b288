"""app-deployer example: a web process and a worker (see Procfile).

The web process answers HTTP on $PORT; the worker (worker.py) has no port
and no route: it only writes to its log."""
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"Hello from procfile-worker's web process\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    port = int(os.environ.get("PORT", 8000))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"web listening on {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
