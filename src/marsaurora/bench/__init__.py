"""Benchmarks: the paper-faithful baseline path against ours, in one run (``aurora bench``)."""
