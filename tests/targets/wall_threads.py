"""Wall mode: one busy thread, one blocked in a socket recv, one in
time.sleep (in 50 ms naps), and the main thread waiting for them; each named by its own
function. Runs until killed.
"""
import socket
import threading
import time


def busy_thread():
    x = 0
    while True:
        x += 1


def recv_thread(sock):
    sock.recv(1)  # @recv


def sleep_thread():
    # short sleeps: it leaves the CPU 20 times a second, through the
    # kernel's scheduler, even on an idle machine
    while True:
        time.sleep(0.05)  # @sleep


def main():
    a, b = socket.socketpair()
    threads = [threading.Thread(target=busy_thread, daemon=True),
               threading.Thread(target=recv_thread, args=(a,), daemon=True),
               threading.Thread(target=sleep_thread, daemon=True)]
    for t in threads:
        t.start()
    print("READY", flush=True)
    threading.Event().wait()  # @main_wait


main()
