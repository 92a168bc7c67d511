"""Importing this module registers every built-in optimizer."""

from testbed.optimizers import (  # noqa: F401
    lecture,
    line_search,
    newton,
    barrier,
    scipy_methods,
    torch_like,
)
