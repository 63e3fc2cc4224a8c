"""Optimizers and learning-rate schedulers with PyTorch's names, defaults and update rules.

    optimizer = minicnn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = minicnn.optim.lr_scheduler.StepLR(optimizer, step_size=10)
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
