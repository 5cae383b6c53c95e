"""What holds a submission in: cgroup limits, the sandbox user, rlimits, the staged copy, /output."""
