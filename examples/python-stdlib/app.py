"""app-deployer example: the standard library only, answering on $PORT."""
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"Hello from python-stdlib\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    # The platform sets PORT; 8000 is for running it by hand.
    port = int(os.environ.get("PORT", 8000))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    # Stop promptly when the container is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"python-stdlib listening on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
