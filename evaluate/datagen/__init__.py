"""The synthetic challenge data behind `make data`: identities, video-like frames, presets, writing.

Modules of one concern each: `faces` loads the real face chips the identities are made
from, `identities` morphs them into new people, `frames` degrades a face the way video
does, `encoder` runs models/encoder.onnx, `presets` holds the dataset sizes and `writer`
lays a whole dataset out in the data contract (see docs/design.md).
"""
