"""Threads that wait in three ways, for --mode wall --native: one in
time.sleep, one in socket.recv, one in threading.Event.wait, each in a
function of its own; the main thread joins them.

usage: wall_waits.py blocked|naps
  blocked   each waits through the whole run (no switch-out while profiled)
  naps      each waits 20 ms at a time, over and over (a switch-out each)
Runs until killed.
"""
import socket
import sys
import threading
import time

NAP = 0.02


def in_sleep(naps):
    while True:
        time.sleep(NAP if naps else 3600)  # @sleep


def in_recv(sock, naps):
    while True:
        sock.recv(1)  # @recv


def in_event_wait(event, naps):
    while True:
        event.wait(NAP if naps else None)  # @wait


def feeder(sock):
    """naps: a byte for in_recv every NAP seconds."""
    while True:
        time.sleep(NAP)
        sock.send(b"x")


def main():
    naps = sys.argv[1] == "naps"
    a, b = socket.socketpair()
    threads = [threading.Thread(target=in_sleep, args=(naps,), daemon=True),
               threading.Thread(target=in_recv, args=(a, naps), daemon=True),
               threading.Thread(target=in_event_wait, args=(threading.Event(), naps),
                                daemon=True)]
    if naps:
        threads.append(threading.Thread(target=feeder, args=(b,), daemon=True))
    for t in threads:
        t.start()
    time.sleep(0.3)
    print("READY", flush=True)
    for t in threads:
        t.join()


main()
