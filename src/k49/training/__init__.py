"""Training stage: the trainer, its hot loop, the data split and the kNN fit."""
