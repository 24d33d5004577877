"""A comprehension split over several lines, asleep in its middle line: the
line table steps back from there to the comprehension's first line (py-spy's
negative_linenumber_offsets.py). Prints VIEW (own_view.py) once parked.
"""
import time

from own_view import marked, report_when_parked


def f():
    return [
        # the call below is two lines after the comprehension starts
        time.sleep(3600)  # @park
        for _ in range(1000)
    ]


report_when_parked(__file__, marked(__file__))
f()  # @park
