"""Built-in problem families; importing this package registers them all."""

from problems.families import (  # noqa: F401
    least_squares,
    logistic,
    mlp,
    nnls,
    quadratic,
    rosenbrock,
    worst_case,
)
