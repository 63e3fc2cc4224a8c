"""LeNet-5 learns scikit-learn's handwritten digits (8x8, upsampled to 32x32) in a few epochs."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.models import lenet5
from minicnn.optim import SGD


@pytest.mark.slow
def test_lenet5_learns_the_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.kron(digits.images / 16.0, np.ones((1, 4, 4)))[:, None].astype(np.float32)   # 8x8 -> 32x32
    x = (x - 0.5) / 0.5
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1400], order[1400:]

    mc.manual_seed(0)
    model = lenet5()
    optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(1)
    for epoch in range(5):
        model.train()
        for batch in np.array_split(rng.permutation(train), len(train) // 32):
            loss = F.cross_entropy(model(mc.tensor(x[batch])), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with mc.no_grad():
        accuracy = (model(mc.tensor(x[test])).numpy().argmax(1) == y[test]).mean()
    assert accuracy > 0.9, f"test accuracy {accuracy:.3f} after 5 epochs"
