"""A bounded HTTP load on loopback: CONCURRENCY clients request URL until
SECONDS have passed or this process's stdin is closed (the test closes it
when it has what it needs; it is closed too if the test dies), then print
how many requests succeeded and how many failed.

usage: load.py URL SECONDS [CONCURRENCY]
"""
import sys
import threading
import time
import urllib.request


def client(url, deadline, stop, counts, lock):
    while time.monotonic() < deadline and not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
            key = "ok"
        except Exception:   # a worker killed mid-request: IncompleteRead, reset
            key = "failed"
            stop.wait(0.05)
        with lock:
            counts[key] += 1


def main():
    url, seconds = sys.argv[1], float(sys.argv[2])
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    deadline = time.monotonic() + seconds
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    threads = [threading.Thread(target=client, args=(url, deadline, stop, counts, lock))
               for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("REQUESTS %d FAILED %d" % (counts["ok"], counts["failed"]), flush=True)


if __name__ == "__main__":
    main()
