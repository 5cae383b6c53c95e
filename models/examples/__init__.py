"""Worked examples of your own aggregator, one per route of the README ("Your own aggregator")."""
