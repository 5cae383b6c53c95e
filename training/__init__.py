"""Training an aggregator on a dataset's train/ part (host only; PyTorch never enters the image).

`data` reads train/ and holds out persons, `pooling` holds the training-free aggregators
(the references every learned one must beat), `model` the learned ones in PyTorch,
`fit` the training loop, `validate` TPR@FPR on held-out persons, `export` the ONNX file
and its manifest entry, `cli` the `python -m training` command behind `make train-aggregator`.
"""
