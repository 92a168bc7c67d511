"""Optimizers that reproduce ``torch.optim`` (torch 2.13, float64): same names, hyperparameters and defaults.

Importing this module registers them:

========== ======================== =========================================
name       torch class              module
========== ======================== =========================================
sgd        ``torch.optim.SGD``      :mod:`testbed.optimizers.torch_sgd`
adagrad    ``torch.optim.Adagrad``  :mod:`testbed.optimizers.torch_adaptive`
rmsprop    ``torch.optim.RMSprop``  :mod:`testbed.optimizers.torch_adaptive`
adadelta   ``torch.optim.Adadelta`` :mod:`testbed.optimizers.torch_adaptive`
adam       ``torch.optim.Adam``     :mod:`testbed.optimizers.torch_adam`
adamw      ``torch.optim.AdamW``    :mod:`testbed.optimizers.torch_adam`
nadam      ``torch.optim.NAdam``    :mod:`testbed.optimizers.torch_adam`
radam      ``torch.optim.RAdam``    :mod:`testbed.optimizers.torch_adam`
========== ======================== =========================================

Each step performs torch's single-tensor (``foreach=False``) float64
operations in torch's order, with torch's single roundings for its fused
multiply-adds (:mod:`testbed.optimizers.torch_kernels`), so on the same
gradients the iterates are bit-identical to torch's except where torch's
square root, which is not correctly rounded, differs by an ulp: ~1e-15
relative over hundreds of steps unless the trajectory itself is chaotic. The
step size passed to ``step`` is the schedule's current value, as torch's
``param_groups[0]["lr"]`` after ``scheduler.step()``: AdamW's decay factor
1 - lr * weight_decay, Adam's lr / (1 - beta1^t) and Adagrad's decayed lr use it.
Steps update x and the state in place, in cache-sized blocks
(:mod:`testbed.optimizers.torch_common`), with buffers allocated once by ``init``.
"""

from testbed.optimizers.torch_adam import Adam, AdamW, NAdam, RAdam
from testbed.optimizers.torch_adaptive import Adadelta, Adagrad, RMSprop
from testbed.optimizers.torch_sgd import SGD

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "NAdam", "RAdam", "RMSprop"]
