"""Training stage: the run config, the trainer, checkpoints, losses, suites and benchmarks."""
