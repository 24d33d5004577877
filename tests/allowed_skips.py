"""The only skips a CI run (CI=true) accepts; any other skip fails it
(conftest.py). A skip belongs here only when it is a fact of what the test
covers on that case, never a machine lacking something: that is a missing
dependency to install or fetch, and a run that tests less must say so by
failing.

Each entry: (pytest node id pattern, with fnmatch wildcards; text the skip
reason must contain; why it is no loss).
"""

ALLOWED = [
    ("tests/test_gil.py::test_*[[]*t[]]", "is free-threaded: no GIL",
     "--gil measures a GIL a free-threaded build does not have; "
     "test_free_threaded_has_no_gil checks that --gil refuses it"),
    ("tests/test_native.py::test_native_with_kernel_gil_and_wall_mode[[]*t[]]",
     "is free-threaded: --gil does not apply",
     "the same --gil on a free-threaded build; its --native stacks are checked by the other "
     "--native tests on that build"),
]
