"""The organizer's side: the dataset contract and generator, ground truth, the metric, scoring and reports."""
