"""End to end: a two-layer MLP trained by plain SGD on scikit-learn's 8x8 digits (bundled, offline).

Everything but the update rule is minicnn: Sequential, Linear, ReLU, cross_entropy,
backward, zero_grad, no_grad, eval.
"""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn

sklearn_datasets = pytest.importorskip("sklearn.datasets")

pytestmark = pytest.mark.slow


def digits_split(test_fraction=0.2, seed=0):
    digits = sklearn_datasets.load_digits()
    x = (digits.data / 16.0).astype(np.float32)      # pixel values 0..16 -> 0..1
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def accuracy(model, x, y):
    model.eval()
    with mc.no_grad():
        logits = model(mc.tensor(x))
    model.train()
    return float((logits.numpy().argmax(axis=1) == y).mean())


def test_mlp_learns_digits():
    mc.manual_seed(0)
    x_train, y_train, x_test, y_test = digits_split()
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    lr, batch_size, epochs = 0.1, 32, 40
    rng = np.random.default_rng(0)
    before = accuracy(model, x_test, y_test)
    first_loss = last_loss = None
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(mc.tensor(x_train[idx])), mc.tensor(y_train[idx]))
            model.zero_grad()
            loss.backward()
            for p in model.parameters():
                p.data -= lr * p.grad.data
            first_loss = loss.item() if first_loss is None else first_loss
            last_loss = loss.item()
    after = accuracy(model, x_test, y_test)
    assert before < 0.3                      # an untrained net guesses
    assert last_loss < 0.2 * first_loss
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert after > 0.95, f"test accuracy {after:.3f}"
