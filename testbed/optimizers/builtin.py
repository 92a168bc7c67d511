"""Importing this module registers every built-in optimizer."""

from testbed.optimizers import (  # noqa: F401
    barrier,
    lecture,
    line_search,
    newton,
    scipy_methods,
    torch_like,
)
