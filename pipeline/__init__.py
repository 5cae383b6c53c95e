"""What the GitLab pipeline's jobs call beyond the runner and the scorer: the public reports and the MR note.

Everything here reads a public-only score.json (`python -m evaluate score --public-only`)
and refuses any other, so nothing it writes or posts can carry the private score.
"""
