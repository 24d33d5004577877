"""Threads in known places for `refbpf dump`: one sleeping, one spinning,
one in a function whose name is hostile text, the main thread joining.

usage: dump_target.py SECONDS
"""
import sys
import threading
import time

from threads import name_os_thread


def sleeper(seconds):
    name_os_thread("sleeper")
    time.sleep(seconds)  # @sleep


def spinner(deadline):
    name_os_thread("spinner")
    # one line: a dump may land on any instruction of the loop
    while time.monotonic() < deadline: pass  # @spin


def hostile(seconds):
    time.sleep(seconds)  # @hostile


HOSTILE = 'evil"</script>\n\x1b[2J'
hostile.__code__ = hostile.__code__.replace(co_name=HOSTILE, **(
    {"co_qualname": HOSTILE} if sys.version_info >= (3, 11) else {}))


def main():
    seconds = float(sys.argv[1])
    threads = [threading.Thread(target=sleeper, args=(seconds,)),
               threading.Thread(target=spinner, args=(time.monotonic() + seconds,)),
               threading.Thread(target=hostile, args=(seconds,))]
    for t in threads:
        t.start()
    time.sleep(0.3)
    print("READY", flush=True)
    for t in threads:
        t.join()  # @join


if __name__ == "__main__":
    main()
