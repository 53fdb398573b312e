"""nervesim's benchmark suite: the Numba engine side by side with NEURON (run ``python -m benchmarks``)."""
