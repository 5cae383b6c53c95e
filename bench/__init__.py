"""`python -m bench`: the project's scorer, solution pipeline and sandbox, each timed beside a baseline.

Every figure is a ratio against a baseline run on the same machine, on the same data, in
the same run, because these machines are shared and their absolute speed drifts.
"""
