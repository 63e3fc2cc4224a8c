"""Train LeNet-5 on full MNIST (or Fashion-MNIST) with minicnn, next to PyTorch with the same recipe.

    MINICNN_DATA=../shared/data python benchmarks/train_mnist.py
    python benchmarks/train_mnist.py --dataset fashion-mnist --variant modern --epochs 10

For each LeNet-5 variant (the lecture's tanh/avg-pool one and the modern ReLU/max-pool one) it
reports the test error after every epoch and the wall time per epoch, for minicnn and, when
torch is installed, for PyTorch starting from the SAME initial weights, with the same data
order, batch size, optimizer and learning-rate schedule. Both run at the same thread count.
Recipe: 28x28 images padded to 32x32, normalized with the dataset's mean/std, Adam(lr=1e-3)
with cosine annealing to 0 over the run, batch 64; --augment adds random shifts of up to
2 pixels (the same augmented batches feed both frameworks).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import minicnn as mc
from minicnn import data, optim
from minicnn.data import transforms as T
from minicnn.train import evaluate, train_one_epoch

STATS = {"mnist": ((0.1307,), (0.3081,)), "fashion-mnist": ((0.2860,), (0.3530,))}


def set_threads(n: int) -> None:
    """Pin Numba, BLAS and torch to n threads (re-done before every timed block)."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(n)
    threadpool_limits(n)
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:
        pass


def load(dataset: str, limit: int | None, augment: bool = False):
    cls = data.MNIST if dataset == "mnist" else data.FashionMNIST
    tf = T.Compose([T.Pad(2), T.Normalize(*STATS[dataset])])
    shift = [T.RandomAffine(degrees=0, translate=(2 / 32, 2 / 32))] if augment else []
    train = cls(train=True, transform=T.Compose([T.Pad(2)] + shift + [T.Normalize(*STATS[dataset])]))
    test = cls(train=False, transform=tf)
    if limit:
        train = data.Subset(train, range(limit))
    return train, test


def run_minicnn(model, train_set, test_set, epochs, batch_size, seed, threads, lr):
    T.seed(seed)  # the same augmentations for both frameworks
    loader = data.DataLoader(train_set, batch_size=batch_size, shuffle=True, seed=seed)
    test_loader = data.DataLoader(test_set, batch_size=1000)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    rows = []
    for epoch in range(epochs):
        set_threads(threads)
        start = time.perf_counter()
        train_one_epoch(model, loader, optimizer, progress=False)
        seconds = time.perf_counter() - start
        scheduler.step()
        result = evaluate(model, test_loader)
        rows.append({"epoch": epoch + 1, "seconds": seconds, "test_error": result.error})
        print(f"  minicnn epoch {epoch + 1}: {seconds:6.1f} s, test error {100 * result.error:.2f}%", flush=True)
    return rows


def run_torch(torch_model, train_set, test_set, epochs, batch_size, seed, threads, lr):
    import torch
    import torch.nn.functional as TF

    T.seed(seed)
    loader = data.DataLoader(train_set, batch_size=batch_size, shuffle=True, seed=seed)  # same order
    test_loader = data.DataLoader(test_set, batch_size=1000)
    optimizer = torch.optim.Adam(torch_model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    rows = []
    for epoch in range(epochs):
        set_threads(threads)
        torch_model.train()
        start = time.perf_counter()
        for images, labels in loader:
            x, y = torch.from_numpy(images.numpy()), torch.from_numpy(labels.numpy())
            loss = TF.cross_entropy(torch_model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        scheduler.step()
        torch_model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in test_loader:
                pred = torch_model(torch.from_numpy(images.numpy())).argmax(1).numpy()
                correct += int((pred == labels.numpy()).sum())
        error = 1 - correct / len(test_set)
        rows.append({"epoch": epoch + 1, "seconds": seconds, "test_error": error})
        print(f"  pytorch epoch {epoch + 1}: {seconds:6.1f} s, test error {100 * error:.2f}%", flush=True)
    return rows


def torch_lenet5(modern: bool):
    """The same LeNet-5 in PyTorch, with minicnn's parameter names (so state dicts move as they are)."""
    import torch.nn as tnn

    act = tnn.ReLU if modern else tnn.Tanh
    pool = (lambda: tnn.MaxPool2d(2)) if modern else (lambda: tnn.AvgPool2d(2))
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5), act(), pool(), tnn.Conv2d(6, 16, 5), act(), pool(),
        tnn.Conv2d(16, 120, 5), act(), tnn.Flatten(), tnn.Linear(120, 84), act(), tnn.Linear(84, 10))


def copy_weights(model, torch_model) -> None:
    """Load minicnn's initial weights into the torch model, matched by order and shape."""
    import torch

    ours = [p.numpy() for p in model.parameters()]
    theirs = list(torch_model.parameters())
    assert [a.shape for a in ours] == [tuple(p.shape) for p in theirs], "architectures differ"
    with torch.no_grad():
        for a, p in zip(ours, theirs):
            p.copy_(torch.from_numpy(a.copy()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    parser.add_argument("--variant", choices=("classic", "modern", "both"), default="both")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit-train", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--augment", action="store_true", help="random shifts of up to 2 pixels")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", default=None, help="write all numbers to this file")
    args = parser.parse_args(argv)
    if "MINICNN_DATA" not in os.environ:
        print("note: MINICNN_DATA is not set; reading (or downloading into) the user cache folder")

    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False

    train_set, test_set = load(args.dataset, args.limit_train, args.augment)
    variants = ["classic", "modern"] if args.variant == "both" else [args.variant]
    report = {"dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size,
              "threads": args.threads, "lr": args.lr, "augment": args.augment, "runs": {}}
    for variant in variants:
        mc.manual_seed(args.seed)
        model = mc.models.lenet5(modern=variant == "modern")
        start_state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
        print(f"LeNet-5 ({variant}) on {args.dataset}, {len(train_set)} training images:", flush=True)
        report["runs"][f"minicnn-{variant}"] = run_minicnn(
            model, train_set, test_set, args.epochs, args.batch_size, args.seed, args.threads, args.lr)
        if have_torch:
            import torch

            torch.manual_seed(args.seed)
            torch_model = torch_lenet5(variant == "modern")
            model.load_state_dict(start_state)
            copy_weights(model, torch_model)
            report["runs"][f"pytorch-{variant}"] = run_torch(
                torch_model, train_set, test_set, args.epochs, args.batch_size, args.seed, args.threads, args.lr)

    print(f"\n{'run':<18} {'s/epoch':>8} {'total s':>8} {'final error':>12}")
    for name, rows in report["runs"].items():
        per_epoch = float(np.median([r["seconds"] for r in rows]))
        total = sum(r["seconds"] for r in rows)
        print(f"{name:<18} {per_epoch:8.1f} {total:8.1f} {100 * rows[-1]['test_error']:11.2f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
