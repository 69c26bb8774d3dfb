"""Evaluation stage: imbalance-aware metrics of a run's test predictions."""
