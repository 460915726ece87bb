"""Benchmarks: gdlab against PyTorch, a JAX + optax step loop and scikit-learn.

``python -m benchmarks.peers`` times one epoch of the MNIST-1D MLP in every peer;
``python -m benchmarks.e2e`` times whole processes (``gdlab fit`` against
``benchmarks/e2e_torch.py``). See benchmarks/README.md.
"""
