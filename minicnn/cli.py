"""The command line: `python -m minicnn train | evaluate | summary | models`.

    minicnn train                                   # LeNet-5 on the bundled digits, offline
    minicnn train --dataset mnist --epochs 5 --save lenet5.npz --metrics metrics.json
    minicnn train --dataset mnist --device cuda     # on an NVIDIA GPU (numba.cuda)
    minicnn evaluate --model lenet5 --weights lenet5.npz --dataset mnist
    minicnn summary vgg16 --input 3,32,32

A user mistake (an unknown model, a missing data folder, weights of another
architecture) prints one line starting with "error:" and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import data as datasets
from . import io, models, optim
from .autograd import manual_seed
from .kernels.backend import cuda_available
from .summary import summary
from .train import evaluate, fit

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")


class UserError(Exception):
    """A mistake in the command line or its inputs: reported in one line, without a traceback."""


# ------------------------------------------------------------------ datasets
def _input_shape(dataset: str) -> tuple:
    return (3, 32, 32) if dataset.startswith("cifar") else (1, 32, 32)


def _num_classes(dataset: str) -> int:
    return 100 if dataset == "cifar100" else 10


def build_datasets(name: str, data_dir=None, augment=False, download=True):
    """(train, test) datasets with images of _input_shape(name), normalized, optionally augmented."""
    T = datasets.transforms
    if name == "digits":
        base = [T.Normalize((0.5,), (0.5,))]
        extra = [T.RandomAffine(degrees=10, translate=(0.1, 0.1))] if augment else []
        return (datasets.digits(train=True, size=32, transform=T.Compose(extra + base)),
                datasets.digits(train=False, size=32, transform=T.Compose(base)))
    if name in ("mnist", "fashion-mnist"):
        cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
        stats = ((0.1307,), (0.3081,)) if name == "mnist" else ((0.2860,), (0.3530,))
        base = [T.Pad(2), T.Normalize(*stats)]
        extra = [T.RandomAffine(degrees=10, translate=(0.1, 0.1))] if augment else []
        if name == "fashion-mnist" and augment:
            extra = [T.RandomHorizontalFlip()]
        return (cls(data_dir, train=True, download=download, transform=T.Compose(base[:1] + extra + base[1:])),
                cls(data_dir, train=False, download=download, transform=T.Compose(base)))
    if name in ("cifar10", "cifar100"):
        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        base = [T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))]
        extra = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if augment else []
        return (cls(data_dir, train=True, download=download, transform=T.Compose(extra + base)),
                cls(data_dir, train=False, download=download, transform=T.Compose(base)))
    raise UserError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def _build_model(name: str, dataset: str):
    channels, _, _ = _input_shape(dataset)
    try:
        return models.get_model(name, num_classes=_num_classes(dataset), in_channels=channels)
    except ValueError as error:
        raise UserError(str(error)) from None


def _load_weights(model, path: str, model_name: str) -> None:
    try:
        state = io.load(path)
    except FileNotFoundError:
        raise UserError(f"weights file {path} does not exist") from None
    except ValueError as error:
        raise UserError(str(error)) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).split("\n\t")[1] if "\n\t" in str(error) else str(error)
        raise UserError(f"{path} does not hold weights for {model_name}: {first}") from None


def _to_device(model, device: str):
    """The model on ``device``; "cuda" without a usable GPU is a user error."""
    if device == "cuda" and not cuda_available():
        raise UserError("--device cuda: no CUDA GPU is available here (numba.cuda.is_available() is False, "
                        "or numba-cuda is not installed); train on the CPU with --device cpu")
    return model.to(device)


# ------------------------------------------------------------------ commands
def cmd_train(args) -> int:
    manual_seed(args.seed)
    model = _to_device(_build_model(args.model, args.dataset), args.device)
    train_set, test_set = build_datasets(args.dataset, args.data_dir, args.augment)
    if args.limit_train:
        train_set = datasets.Subset(train_set, range(min(args.limit_train, len(train_set))))
    train_loader = datasets.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = datasets.DataLoader(test_set, batch_size=max(args.batch_size, 256))
    if args.optimizer == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    else:
        optimizer = optim.Adam(model.parameters(), lr=args.lr)

    print(f"training {args.model} on {args.dataset}: {len(train_set)} training and {len(test_set)} "
          f"test images, {args.epochs} epochs, {args.optimizer} lr={args.lr}, batch {args.batch_size}, "
          f"on {args.device}")
    start = time.perf_counter()
    history = fit(model, train_loader, optimizer, args.epochs, log=print, progress=None if args.progress else False)
    result = evaluate(model, test_loader)
    print(f"test accuracy {result.accuracy:.4f} (error {100 * result.error:.2f}%), test loss "
          f"{result.loss:.4f}, {time.perf_counter() - start:.1f} s in all")

    if args.save:
        io.save(model.to("cpu").state_dict(), args.save,
                metadata={"model": args.model, "dataset": args.dataset, "test_accuracy": result.accuracy})
        print(f"saved weights to {args.save}")
    if args.metrics:
        metrics = {"model": args.model, "dataset": args.dataset, "test_accuracy": result.accuracy,
                   "test_loss": result.loss, "epochs": history.as_dict(),
                   "confusion_matrix": result.confusion.tolist()}
        with open(args.metrics, "w") as f:
            json.dump(metrics, f, indent=2)
        print(f"wrote metrics to {args.metrics}")
    return 0


def cmd_evaluate(args) -> int:
    model = _build_model(args.model, args.dataset)
    _load_weights(model, args.weights, args.model)
    model = _to_device(model, args.device)
    _, test_set = build_datasets(args.dataset, args.data_dir, download=False)
    result = evaluate(model, datasets.DataLoader(test_set, batch_size=256))
    print(f"{args.model} on {args.dataset} test set: accuracy {result.accuracy:.4f} "
          f"(error {100 * result.error:.2f}%), loss {result.loss:.4f}")
    return 0


def cmd_summary(args) -> int:
    try:
        shape = tuple(int(v) for v in args.input.split(","))
    except ValueError:
        raise UserError(f"--input must be comma-separated integers like 1,32,32, got {args.input!r}") from None
    try:
        model = models.get_model(args.model, in_channels=shape[0])
    except ValueError as error:
        raise UserError(str(error)) from None
    print(summary(model, shape))
    return 0


def cmd_models(args) -> int:
    print("\n".join(models.list_models()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minicnn", description="Train, evaluate and inspect CNNs.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model and report its test accuracy")
    train.add_argument("--model", default="lenet5")
    train.add_argument("--dataset", default="digits", help=", ".join(DATASETS))
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=None, help="default: 1e-3 (adam), 0.05 (sgd)")
    train.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    train.add_argument("--augment", action="store_true", help="random affine/crop/flip augmentation")
    train.add_argument("--limit-train", type=int, default=None, metavar="N", help="use the first N training images")
    train.add_argument("--data-dir", default=None, help="data folder (default: $MINICNN_DATA or the user cache)")
    train.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                       help="cuda: an NVIDIA GPU through numba.cuda")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save", default=None, metavar="PATH", help="write the trained weights (.npz)")
    train.add_argument("--metrics", default=None, metavar="PATH", help="write metrics as JSON")
    train.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="evaluate saved weights on a test set")
    ev.add_argument("--model", required=True)
    ev.add_argument("--weights", required=True)
    ev.add_argument("--dataset", default="digits")
    ev.add_argument("--data-dir", default=None)
    ev.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ev.set_defaults(func=cmd_evaluate)

    sm = sub.add_parser("summary", help="print a model's layer table")
    sm.add_argument("model")
    sm.add_argument("--input", default="1,32,32", help="input shape C,H,W (default 1,32,32)")
    sm.set_defaults(func=cmd_summary)

    ls = sub.add_parser("models", help="list the model names")
    ls.set_defaults(func=cmd_models)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "lr", 0) is None:
        args.lr = 0.05 if args.optimizer == "sgd" else 1e-3
    try:
        return args.func(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (datasets.DatasetNotFoundError, datasets.ChecksumError, datasets.DownloadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
