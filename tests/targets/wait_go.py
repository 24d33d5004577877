"""Targets wait here, when the test asks (REFBPF_TEST_GO=PATH), until the
test has seen refbpf attached and created PATH."""
import os
import time


def wait_for_go(timeout=60):
    path = os.environ.get("REFBPF_TEST_GO")
    deadline = time.monotonic() + timeout
    while path and not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
