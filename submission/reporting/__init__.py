"""What a run tells: its capped log, progress line, printable text and run.json."""
