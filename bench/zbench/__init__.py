"""zinit benchmark harness (issue 6): zinit against runit, s6 and supervisord.

Python 3.11 standard library only. Entry point: bench/bench.py.
"""
