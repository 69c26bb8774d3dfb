"""Data stage: the facts table, download, loading, the synthetic set and dataset figures."""
