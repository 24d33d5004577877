"""Platform baseline for bench/run.py: the perf events refbpf opens (software
cpu-clock, one per CPU, fixed period 1e9/HZ ns), with no BPF program and no
ring buffer. Whatever this costs the target is the price of the timer
interrupts themselves (large on VMs), not of refbpf.

usage: bare_perf.py HZ     (root; prints READY, holds the events until SIGINT/SIGTERM)
"""
import ctypes
import os
import platform
import signal
import struct
import sys

NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK = 1, 0
PERF_FLAG_FD_CLOEXEC = 1 << 3
ATTR_SIZE = 128


def main():
    rate = int(sys.argv[1])
    nr = NR_PERF_EVENT_OPEN.get(platform.machine())
    if nr is None:
        sys.exit("bare_perf: unknown perf_event_open syscall number for %s" % platform.machine())
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    # struct perf_event_attr: type, size, config, sample_period, sample_type,
    # read_format, flags (all zero: enabled, period mode)
    attr = bytearray(ATTR_SIZE)
    struct.pack_into("IIQQ", attr, 0, PERF_TYPE_SOFTWARE, ATTR_SIZE,
                     PERF_COUNT_SW_CPU_CLOCK, 1000000000 // rate)
    buf = ctypes.create_string_buffer(bytes(attr), ATTR_SIZE)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGTERM])
    fds = []
    for cpu in range(os.cpu_count()):
        fd = libc.syscall(ctypes.c_long(nr), buf, ctypes.c_long(-1), ctypes.c_long(cpu),
                          ctypes.c_long(-1), ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC))
        if fd < 0:
            sys.exit("bare_perf: perf_event_open(cpu %d): %s"
                     % (cpu, os.strerror(ctypes.get_errno())))
        fds.append(fd)
    print("READY %d" % len(fds), flush=True)
    signal.sigwait([signal.SIGINT, signal.SIGTERM])


if __name__ == "__main__":
    main()
