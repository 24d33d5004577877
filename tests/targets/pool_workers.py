"""A multiprocessing pool of NWORKERS processes, each running one task
that spends about 0.4 s of CPU time in pool_work(); a barrier makes the
tasks run at once, so each worker runs one. The workers' PIDs are written
to OUTFILE, one a line.

usage: pool_workers.py NWORKERS OUTFILE
"""
import multiprocessing
import os
import sys
import time

barrier = None


def set_barrier(b):
    global barrier
    barrier = b


def pool_work(i):
    barrier.wait(60)
    end = time.process_time() + 0.4
    while time.process_time() < end:
        pass
    return os.getpid()


if __name__ == "__main__":
    n = int(sys.argv[1])
    with multiprocessing.Pool(n, initializer=set_barrier,
                              initargs=(multiprocessing.Barrier(n),)) as pool:
        pids = pool.map(pool_work, range(n), chunksize=1)
    with open(sys.argv[2], "w") as f:
        f.write("".join("%d\n" % p for p in sorted(pids)))
