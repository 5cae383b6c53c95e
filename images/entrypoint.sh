#!/bin/sh
# Entrypoint of the submission image: log the start and the end (UTC) on stderr, run the
# command (the image's CMD, `python solution.py`, or the runner's), exit with its code.
# As PID 1 the shell would swallow the runner's SIGTERM, so it is passed on to the command.
stamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }

echo "$(stamp) entrypoint: start: $*" >&2
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"
code=$?
# A trapped signal ends `wait` early: wait again until the command has really exited.
while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    code=$?
done
echo "$(stamp) entrypoint: end: exit code $code" >&2
exit "$code"
