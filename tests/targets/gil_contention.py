"""--gil: NTHREADS pure-Python CPU-bound threads (2: they contend for the
GIL; 1: nobody waits for it), or with "hash" one thread hashing large
buffers (hashlib runs without the GIL). Runs until killed.

usage: gil_contention.py NTHREADS | hash
"""
import hashlib
import sys
import threading


def spin_thread():
    x = 0
    while True:
        x += 1


def hash_thread():
    data = b"x" * (8 << 20)
    while True:
        hashlib.sha256(data).digest()


def main():
    work = hash_thread if sys.argv[1] == "hash" else spin_thread
    n = 1 if sys.argv[1] == "hash" else int(sys.argv[1])
    for _ in range(n):
        threading.Thread(target=work, daemon=True).start()
    print("READY", flush=True)
    threading.Event().wait()


main()
