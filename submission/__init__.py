"""The host side of a run: engines, limits, the run report and the output check."""
