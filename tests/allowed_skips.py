"""The only skips a CI run (CI=true) accepts; any other skip fails it
(conftest.py). A skip belongs here only when it is a fact of what the test
covers on that case, never a machine lacking something: that is a missing
dependency to install or fetch, and a run that tests less must say so by
failing.

Each entry: (pytest node id pattern, with fnmatch wildcards; text the skip
reason must contain; why it is no loss).
"""

ALLOWED = [
]
