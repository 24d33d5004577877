"""A bounded HTTP load on loopback: CONCURRENCY clients request URL until
SECONDS have passed, then print how many requests succeeded.

usage: load.py URL SECONDS [CONCURRENCY]
"""
import sys
import threading
import time
import urllib.request


def client(url, deadline, done):
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
            done.append(1)
        except OSError:
            time.sleep(0.05)


def main():
    url, seconds = sys.argv[1], float(sys.argv[2])
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    deadline = time.monotonic() + seconds
    done = []
    threads = [threading.Thread(target=client, args=(url, deadline, done))
               for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("REQUESTS %d" % len(done), flush=True)


if __name__ == "__main__":
    main()
