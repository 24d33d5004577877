"""Creates and frees code objects on demand, for the code-counter test.

Prints READY, then for each line N read from stdin compiles N small
functions, drops them, collects, and prints DONE. N = 0 does nothing but
answer: the counter must not move then.
"""
import gc
import sys


def main():
    print("READY", flush=True)
    for line in sys.stdin:
        for i in range(int(line)):
            namespace = {}
            exec(compile("def fresh_%d():\n    return %d\n" % (i, i), "<counter>", "exec"),
                 namespace)
            del namespace
        gc.collect()
        print("DONE", flush=True)


if __name__ == "__main__":
    main()
