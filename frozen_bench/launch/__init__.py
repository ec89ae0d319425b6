"""Ways to launch runs: ``frozen-bench run`` (its checks, the sweep's summary), run lines in long-lived
workers, the lines still pending, SLURM job states, tab completion."""
