"""MCS2019's original files, brought into this project's data contract.

`layout` names the original files and columns, `read` loads them, `check` finds every
problem and plans the import, `write` lays the plan out as the dataset of docs/design.md, and
`replica` writes a small copy of the original format from the synthetic generator so
the importer can be tested without the real data.
"""
