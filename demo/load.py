"""A bounded HTTP load for the demo server, on loopback only.

usage: load.py PORT SECONDS [CONCURRENCY]
"""
import sys
import threading
import time
import urllib.request

PATHS = ["/", "/api/primes", "/api/report"]


def client(port, deadline, counts):
    i = 0
    while time.monotonic() < deadline:
        url = "http://127.0.0.1:%d%s" % (port, PATHS[i % len(PATHS)])
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
            counts.append(1)
        except OSError:
            time.sleep(0.05)
        i += 1


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    deadline = time.monotonic() + seconds
    counts = []
    threads = [threading.Thread(target=client, args=(port, deadline, counts))
               for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("requests: %d (%.0f/s)" % (len(counts), len(counts) / seconds))


if __name__ == "__main__":
    main()
