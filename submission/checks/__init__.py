"""The organizers' submission check: the first stage of the merge-request pipeline (`python -m submission check`).

It judges a branch by the contract any submission must meet, never by the kit's own tests:
the declared files are there, the Python is 3.8 compatible, the models load and run on
the image's runtime with the contract's signatures, and solution.py turns a few tiny
tracks into output that passes the output contract. Participant code and models are only
ever run inside the runner's sandbox.
"""
