"""Training and evaluation loops: `fit` and `evaluate`.

One training step reads top to bottom:

    images, labels = images.to(device), labels.to(device)   # "cpu": as they are; "cuda": to the GPU
    logits = model(images)                  # Module.__call__ -> F.op -> Function.apply -> kernel
    loss = loss_fn(logits, labels)
    optimizer.zero_grad(); loss.backward()  # graph in reverse topological order
    optimizer.step()

The device is the one the model's parameters are on (`model.to("cuda")`, or `fit(..., device=...)`).
On the GPU, each step copies the loss and the logits (N, C) back to count correct predictions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm  # text bars: no widget dependency in notebooks

from . import functional as F
from .autograd import no_grad

AUX_LOSS_WEIGHT = 0.3  # GoogLeNet's weight for its auxiliary classifiers' losses


@dataclass
class History:
    """Per-epoch metrics of a `fit` run (lists, one entry per epoch)."""

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    lr: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: [float(v) for v in getattr(self, k)] for k in self.__dataclass_fields__}


@dataclass
class Evaluation:
    """What `evaluate` measures: mean loss, accuracy and the confusion matrix (true x predicted)."""

    loss: float
    accuracy: float
    confusion: np.ndarray

    @property
    def error(self) -> float:
        return 1.0 - self.accuracy


def _split_outputs(output):
    """A model may return (logits, aux1, aux2, ...) in training (GoogLeNet); logits come first."""
    if isinstance(output, (tuple, list)):
        return output[0], list(output[1:])
    return output, []


def _progress(iterable, enabled, **kwargs):
    # enabled=None lets tqdm decide: a bar on a terminal, silence when output is a file or pipe
    return tqdm(iterable, disable=None if enabled is None else not enabled, leave=False, **kwargs)


def model_device(model) -> str:
    """The device of the model's parameters: "cpu" or "cuda" ("cpu" for a model without any)."""
    first = next(iter(model.parameters()), None)
    return "cpu" if first is None else first.device


def train_one_epoch(model, loader, optimizer, loss_fn=F.cross_entropy, progress=None, desc="train"):
    """One pass over `loader`, on the model's device; returns (mean loss, accuracy) over the samples seen."""
    model.train()
    device = model_device(model)
    total_loss, correct, seen = 0.0, 0, 0
    bar = _progress(loader, progress, desc=desc)
    for images, labels in bar:
        images, targets = images.to(device), labels.to(device)
        logits, aux = _split_outputs(model(images))
        loss = loss_fn(logits, targets)
        for extra in aux:
            loss = loss + AUX_LOSS_WEIGHT * loss_fn(extra, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        n = len(labels)
        total_loss += loss.item() * n
        correct += int((logits.numpy().argmax(axis=1) == labels.numpy()).sum())
        seen += n
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}", refresh=False)
    if seen == 0:
        raise ValueError("the training loader produced no batches (is the dataset empty, or "
                         "batch_size larger than the dataset with drop_last=True?)")
    return total_loss / seen, correct / seen


def evaluate(model, loader, loss_fn=F.cross_entropy, num_classes: int | None = None,
             progress=False) -> Evaluation:
    """Loss, accuracy and confusion matrix of `model` over `loader`, in eval mode, without a graph,
    on the model's device.

    The model's previous train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    device = model_device(model)
    total_loss, seen = 0.0, 0
    truths, predictions = [], []
    try:
        with no_grad():
            for images, labels in _progress(loader, progress, desc="eval"):
                logits, _ = _split_outputs(model(images.to(device)))
                total_loss += loss_fn(logits, labels.to(device)).item() * len(labels)
                seen += len(labels)
                truths.append(labels.numpy())
                predictions.append(logits.numpy().argmax(axis=1))
                num_classes = num_classes or logits.shape[1]
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("the evaluation loader produced no batches")
    truth, predicted = np.concatenate(truths), np.concatenate(predictions)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    return Evaluation(total_loss / seen, float(np.trace(confusion) / seen), confusion)


def fit(model, train_loader, optimizer, epochs: int, loss_fn=F.cross_entropy, val_loader=None,
        scheduler=None, callbacks=(), progress=None, log=None, device=None) -> History:
    """Train for `epochs` epochs; returns a History of per-epoch loss, accuracy and seconds.

    scheduler.step() runs once per epoch. Each callback is called as
    callback(epoch, history) after every epoch; one that returns True stops training.
    `log` (e.g. print) receives a one-line summary per epoch. `device` ("cpu" or "cuda") moves the
    model there first (model.to(device)); by default it trains where its parameters are.
    """
    if device is not None:
        model.to(device)
    history = History()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        loss, accuracy = train_one_epoch(model, train_loader, optimizer, loss_fn, progress,
                                         desc=f"epoch {epoch}/{epochs}")
        history.seconds.append(time.perf_counter() - start)
        history.loss.append(loss)
        history.accuracy.append(accuracy)
        history.lr.append(lr)
        line = f"epoch {epoch}/{epochs}: loss {loss:.4f}, accuracy {accuracy:.4f}"
        if val_loader is not None:
            result = evaluate(model, val_loader, loss_fn)
            history.val_loss.append(result.loss)
            history.val_accuracy.append(result.accuracy)
            line += f", val_loss {result.loss:.4f}, val_accuracy {result.accuracy:.4f}"
        if log is not None:
            log(line + f" ({history.seconds[-1]:.1f} s)")
        if scheduler is not None:
            scheduler.step()
        if any(callback(epoch, history) for callback in callbacks):
            break
    return history
