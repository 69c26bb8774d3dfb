"""Evaluation stage: batched prediction and imbalance-aware metrics."""
