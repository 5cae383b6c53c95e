"""The contracts shared by the host packages: file names, array keys, report fields.

`submission/` (the runner) and `evaluate/` (the scorer and the data tools) both import
this package and nothing of each other. `solution.py` runs inside the container and
imports nothing from here: it repeats the few names it needs, and the tests hold the
two in agreement.
"""
