"""Study stage: suites planned into runs, workers that train them, and whole studies
(`run_study`, `demo`) ending in the report."""
