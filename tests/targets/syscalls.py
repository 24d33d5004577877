"""--kernel: a loop of pipe writes and reads, 64 KiB each, so most of its
time is in the kernel (write -> pipe_write, read -> pipe_read). Runs until
killed."""
import os


def pump():
    r, w = os.pipe()
    chunk = b"x" * 65536
    while True:
        os.write(w, chunk)  # @write
        os.read(r, 65536)  # @read


print("READY", flush=True)
pump()
