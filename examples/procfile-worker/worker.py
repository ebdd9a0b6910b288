"""app-deployer example: the worker process of procfile-worker's Procfile.

No port, no route: it does its work (here: counting) and says so in its
log, which `adctl logs APP --tail` shows as worker.<replica> lines."""
import os
import signal
import socket
import sys
import time


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host = socket.gethostname()
    n = 0
    while True:
        n += 1
        print(f"worker {host} job {n} done", flush=True)
        time.sleep(float(os.environ.get("WORKER_INTERVAL", "0.5")))


if __name__ == "__main__":
    main()
