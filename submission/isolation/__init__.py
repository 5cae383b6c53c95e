"""What holds a submission in: cgroup limits, the sandbox user, rlimits, the staged copy, /output, the seccomp
filter and bwrap's own /etc."""
