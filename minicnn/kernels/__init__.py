"""Kernels: pure functions on arrays (no Tensor, no autograd). ``cpu`` holds the Numba versions,
``cuda`` the numba.cuda ones with the same names and signatures, ``reference`` slow NumPy versions
for tests, and ``shape_rules`` the output-size rules every floor shares."""
