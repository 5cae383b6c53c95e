"""The live challenge, organizer side: the results store, the rules over it, the pipeline jobs and the leaderboard.

May import contracts, evaluate (the scorer) and pipeline (the public reports and the note); nothing imports it
but its CLI, `python -m challenge`.
"""
