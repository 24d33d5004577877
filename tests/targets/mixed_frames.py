"""A stack mixing the kinds of frames an interpreter has, on known lines:
module code, a coroutine run by asyncio awaiting another, functions with
hundreds of locals (frames of kilobytes, so that on 3.11+ the stack crosses
pages and data-stack chunks), a recursion 150 deep, a generator driven by
next(), and a Python function called back from C (sorted's key). Lines the
tests check carry an `# @name` marker.

usage: mixed_frames.py SECONDS
"""
import asyncio
import sys
import time

BIG_FRAMES = 6
BIG_LOCALS = 300
RECURSION = 150
# Generated so each has BIG_LOCALS locals; line 3 of each is the call.
BIG_SOURCE = """def big_{i}(deadline):
    {names} = range({count})
    return {callee}(deadline)
"""


def spin_key(item):
    deadline = item
    x = 0
    while time.monotonic() < deadline:  # @spin
        x += 1  # @spin_body
    return x


def numbers(deadline):
    yield sorted([deadline], key=spin_key)  # @sorted


def through_generator(deadline):
    return next(numbers(deadline))  # @next


def recurse(n, deadline):
    if n == 0:
        return through_generator(deadline)  # @call_generator
    return recurse(n - 1, deadline)  # @recurse


def big_last(deadline):
    return recurse(RECURSION, deadline)  # @call_recurse


for _i in range(BIG_FRAMES):
    exec(compile(BIG_SOURCE.format(
        i=_i, names=", ".join("v%d" % k for k in range(BIG_LOCALS)), count=BIG_LOCALS,
        callee="big_%d" % (_i + 1) if _i + 1 < BIG_FRAMES else "big_last"),
        "<big_frames>", "exec"))


async def inner(deadline):
    return globals()["big_0"](deadline)  # @inner (big_0 is made by exec above)


async def outer(deadline):
    return await inner(deadline)  # @outer


def main():
    seconds = float(sys.argv[1])
    sys.setrecursionlimit(1000)
    print("READY", flush=True)
    asyncio.run(outer(time.monotonic() + seconds))  # @main


if __name__ == "__main__":
    main()  # @module
