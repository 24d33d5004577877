"""Code whose line table is longer than one read of target memory brings
(CPython's remote-unwinder test of a large line table): 3000 one-line
statements, then a sleep on line 3001, compiled as large_linetable.py and
run. Prints VIEW (own_view.py) once asleep there.
"""
import sys
import time

from own_view import report_when_parked

LINES = 3000
source = "".join("value_%d = %d\n" % (i, i) for i in range(LINES)) + "time.sleep(3600)\n"
code = compile(source, "large_linetable.py", "exec")
table = code.co_linetable if sys.version_info >= (3, 10) else code.co_lnotab
assert len(table) > 4096, len(table)
report_when_parked("large_linetable.py", [LINES + 1])
exec(code, {"time": time})
