"""Projections: pure folds ``state x event -> state`` over the log."""
