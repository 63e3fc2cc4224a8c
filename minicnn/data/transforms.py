"""Image transforms and data augmentation on NumPy arrays (torchvision.transforms names).

Every transform takes one image (C, H, W) or a batch (N, C, H, W) and returns
the same layout and float dtype. Datasets hand transforms float32 images in
[0, 1]. Random transforms draw independent parameters for every image of a
batch and apply them to the whole batch at once (no Python loop per image).

Randomness: each random transform takes `rng`, an int seed (its own
generator), a `np.random.Generator`, or None for this module's shared
generator, which `seed(n)` (called by `minicnn.manual_seed(n)`) resets. The
same seed gives the same augmentations.

Coordinates: x runs right, y runs down, the centre of an H x W image is
((W-1)/2, (H-1)/2); a positive angle turns the picture counter-clockwise, as
in torchvision.
"""
from __future__ import annotations

import math
from numbers import Number

import numpy as np

from ..autograd import random as _autograd_random

_rng = None  # created on first use, see get_rng


def seed(n: int) -> None:
    """Reset the shared generator. Its stream is independent of the weight-init one
    seeded by the same `minicnn.manual_seed(n)`, so changing a model does not change
    the data order or the augmentations."""
    global _rng
    _rng = np.random.default_rng(np.random.SeedSequence(n, spawn_key=(1,)))


def get_rng() -> np.random.Generator:
    """The shared generator (look it up each time: `seed` replaces it). Before any
    `seed` call it starts from a draw of minicnn's main generator, so runs after
    `minicnn.manual_seed(n)` repeat even if this module was imported later."""
    global _rng
    if _rng is None:
        _rng = np.random.default_rng(_autograd_random.get_rng().integers(2**63))
    return _rng


def _as_generator(rng):
    if rng is None or isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {type(rng).__name__}")


def _pair(value, name) -> tuple:
    """An int or a pair -> (h, w)."""
    if isinstance(value, Number):
        return (int(value), int(value))
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
    return (int(value[0]), int(value[1]))


def _range(value, name, center=0.0, low=None) -> tuple:
    """A number v -> (center - v, center + v) (clipped below at `low`); a pair stays as is."""
    if isinstance(value, Number):
        if value < 0:
            raise ValueError(f"{name} must be non-negative when a single number, got {value}")
        lo = center - value if low is None else max(low, center - value)
        return (float(lo), float(center + value))
    if len(value) != 2 or value[0] > value[1]:
        raise ValueError(f"{name} must be a number or a pair (min, max), got {value!r}")
    return (float(value[0]), float(value[1]))


def _floating(x, name):
    if x.dtype.kind != "f":
        raise TypeError(f"{name} expects float images in [0, 1], got dtype {x.dtype}; "
                        f"apply ToTensor() first")
    return x


class Transform:
    """Base class: `__call__` accepts (C, H, W) or (N, C, H, W); subclasses write
    `apply(x, rng)` for a batch (N, C, H, W)."""

    def __init__(self, rng=None):
        self._rng = _as_generator(rng)

    def __call__(self, x):
        x = np.asarray(x)
        rng = self._rng if self._rng is not None else get_rng()
        if x.ndim == 3:
            return self.apply(x[None], rng)[0]
        if x.ndim == 4:
            return self.apply(x, rng)
        raise ValueError(f"{type(self).__name__}: expected an image (C, H, W) or a batch "
                         f"(N, C, H, W), got an array of shape {x.shape}")

    def apply(self, x, rng):
        raise TypeError(f"{type(self).__name__} must define apply(batch, rng) to be a Transform")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose:
    """Apply transforms one after another: Compose([Pad(2), RandomCrop(28), Normalize(...)])."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose([\n" + "".join(f"    {t!r},\n" for t in self.transforms) + "])"


class ToTensor:
    """uint8 images (0..255) -> float32 in [0, 1]; float images pass unchanged; (H, W) -> (1, H, W).

    Datasets already give float32 in [0, 1], so this is only needed for raw
    uint8 arrays; it is harmless (a no-op) in PyTorch-shaped pipelines.
    """

    def __call__(self, x):
        x = np.asarray(x)
        if x.ndim == 2:
            x = x[None]
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255)
        if x.dtype == np.bool_:
            return x.astype(np.float32)
        return _floating(x, "ToTensor")

    def __repr__(self):
        return "ToTensor()"


class Normalize(Transform):
    """(x - mean[c]) / std[c] per channel; `inverse` undoes it (for plotting)."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: {len(self.mean)} means but {len(self.std)} stds")
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std must be non-zero, got {self.std}")

    def _stats(self, x):
        c = x.shape[1]
        if len(self.mean) not in (1, c):
            raise ValueError(f"Normalize: {len(self.mean)} mean/std values for images with {c} "
                             f"channels; give one value per channel")
        m = np.asarray(self.mean, x.dtype).reshape(1, -1, 1, 1)
        s = np.asarray(self.std, x.dtype).reshape(1, -1, 1, 1)
        return m, s

    def apply(self, x, rng):
        m, s = self._stats(_floating(x, "Normalize"))
        return (x - m) / s

    def inverse(self, x):
        """x * std + mean: back to the [0, 1] scale."""
        x = np.asarray(x)
        batch = x if x.ndim == 4 else x[None]
        m, s = self._stats(_floating(batch, "Normalize.inverse"))
        out = batch * s + m
        return out if x.ndim == 4 else out[0]


def _pad_widths(padding) -> tuple:
    """int, (left/right, top/bottom) or (left, top, right, bottom) -> (l, t, r, b)."""
    if isinstance(padding, Number):
        return (int(padding),) * 4
    p = tuple(int(v) for v in padding)
    if len(p) == 2:
        return (p[0], p[1], p[0], p[1])
    if len(p) == 4:
        return p
    raise ValueError(f"padding must be an int, 2 or 4 ints, got {padding!r}")


class Pad(Transform):
    """Pad the borders: padding int, (left/right, top/bottom) or (left, top, right, bottom);
    padding_mode 'constant' (with fill), 'edge', 'reflect' or 'symmetric'."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        super().__init__()
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"Pad: padding_mode must be constant, edge, reflect or symmetric, "
                             f"got {padding_mode!r}")
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode
        if min(_pad_widths(padding)) < 0:
            raise ValueError(f"Pad: padding must be non-negative, got {padding!r}")

    def apply(self, x, rng):
        left, top, right, bottom = _pad_widths(self.padding)
        widths = ((0, 0), (0, 0), (top, bottom), (left, right))
        if self.padding_mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=self.fill)
        return np.pad(x, widths, mode=self.padding_mode)


def _bilinear_matrix(n_out, n_in, dtype) -> np.ndarray:
    """(n_out, n_in) weights of 1-D linear interpolation with half-pixel centres
    (PyTorch's align_corners=False): source = (i + 0.5) * n_in / n_out - 0.5."""
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.intp), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = src - i0
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), i0), 1.0 - w1)
    np.add.at(m, (np.arange(n_out), i1), w1)
    return m.astype(dtype)


class Resize(Transform):
    """Bilinear resize. size (h, w) is exact; an int sets the shorter side and keeps
    the aspect ratio (as torchvision). No antialiasing: shrink by at most ~2x."""

    def __init__(self, size):
        super().__init__()
        self.size = size

    def out_size(self, h, w) -> tuple:
        if isinstance(self.size, Number):
            s = int(self.size)
            return (s, int(s * w / h)) if h <= w else (int(s * h / w), s)
        return _pair(self.size, "Resize size")

    def apply(self, x, rng):
        _floating(x, "Resize")
        h, w = x.shape[-2:]
        oh, ow = self.out_size(h, w)
        my = _bilinear_matrix(oh, h, x.dtype)
        mx = _bilinear_matrix(ow, w, x.dtype)
        return np.matmul(np.matmul(my, x), mx.T)


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability p."""

    def __init__(self, p=0.5, rng=None):
        super().__init__(rng)
        self.p = p

    def apply(self, x, rng):
        flip = rng.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out


class RandomCrop(Transform):
    """Cut a random (h, w) window from each image, after optional padding
    (torchvision's arguments; pad_if_needed pads images smaller than size)."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant",
                 rng=None):
        super().__init__(rng)
        self.size, self.padding, self.pad_if_needed = size, padding, pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    def apply(self, x, rng):
        th, tw = _pair(self.size, "RandomCrop size")
        if self.padding:
            x = Pad(self.padding, self.fill, self.padding_mode).apply(x, rng)
        if self.pad_if_needed and (x.shape[2] < th or x.shape[3] < tw):
            dw, dh = max(tw - x.shape[3], 0), max(th - x.shape[2], 0)
            x = Pad((dw, dh), self.fill, self.padding_mode).apply(x, rng)
        n, c, h, w = x.shape
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: crop size {(th, tw)} is larger than the (padded) image "
                             f"{(h, w)}; pass padding= or pad_if_needed=True")
        top = rng.integers(0, h - th + 1, n)
        left = rng.integers(0, w - tw + 1, n)
        windows = np.lib.stride_tricks.sliding_window_view(x, (th, tw), axis=(2, 3))
        return windows[np.arange(n), :, top, left]  # (N, C, th, tw)


def _check_interpolation(mode):
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {mode!r}")
    return mode


def sample(x, sy, sx, fill=0.0, interpolation="bilinear"):
    """out[n, c, i, j] = x[n, c, sy[n, i, j], sx[n, i, j]], read between pixels by
    interpolation; points outside the image read `fill`.

    x: (N, C, H, W); sy, sx: (N, H', W') source coordinates -> (N, C, H', W').
    """
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    fill = np.asarray(fill, x.dtype).reshape(1, -1, 1)
    if interpolation == "nearest":
        corners = [(np.floor(sy + 0.5), np.floor(sx + 0.5), None)]
    else:
        y0, x0 = np.floor(sy), np.floor(sx)
        wy, wx = sy - y0, sx - x0
        corners = [(y0, x0, (1 - wy) * (1 - wx)), (y0, x0 + 1, (1 - wy) * wx),
                   (y0 + 1, x0, wy * (1 - wx)), (y0 + 1, x0 + 1, wy * wx)]
    out = np.zeros((n, c, sy[0].size), x.dtype)
    for iy, ix, weight in corners:
        inside = ((iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)).reshape(n, 1, -1)
        index = (np.clip(iy, 0, h - 1) * w + np.clip(ix, 0, w - 1)).astype(np.intp).reshape(n, 1, -1)
        values = np.where(inside, np.take_along_axis(flat, index, axis=2), fill)
        out += values if weight is None else weight.reshape(n, 1, -1).astype(x.dtype) * values
    return out.reshape((n, c) + sy.shape[1:])


def affine_grid(shape, angle, translate, scale, shear):
    """Source coordinates (sy, sx), each (N, H, W), of an affine map about the image centre.

    angle (N,) degrees counter-clockwise; translate (N, 2) pixels (x, y); scale (N,);
    shear (N, 2) degrees (x, y). The forward map is p' = A (p - c) + c + t with
    A = scale * R(angle) @ ShearY @ ShearX (torchvision's order); each output
    pixel reads the input at A^-1 (p' - c - t) + c.
    """
    n, h, w = shape
    a = np.radians(angle)
    shx, shy = np.tan(np.radians(shear[:, 0])), np.tan(np.radians(shear[:, 1]))
    rot = np.stack([np.stack([np.cos(a), np.sin(a)], -1), np.stack([-np.sin(a), np.cos(a)], -1)], 1)
    one, zero = np.ones(n), np.zeros(n)
    shear_x = np.stack([np.stack([one, -shx], -1), np.stack([zero, one], -1)], 1)
    shear_y = np.stack([np.stack([one, zero], -1), np.stack([-shy, one], -1)], 1)
    inv = np.linalg.inv(scale[:, None, None] * rot @ shear_y @ shear_x)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    ox = (np.arange(w) - cx)[None, None, :] - translate[:, 0, None, None]
    oy = (np.arange(h) - cy)[None, :, None] - translate[:, 1, None, None]
    sx = inv[:, 0, 0, None, None] * ox + inv[:, 0, 1, None, None] * oy + cx
    sy = inv[:, 1, 0, None, None] * ox + inv[:, 1, 1, None, None] * oy + cy
    return sy, sx


class RandomAffine(Transform):
    """Random rotation, translation, scaling and shearing about the centre.

    degrees: d -> angle in (-d, d), or (min, max). translate: (a, b) fractions:
    shift |dx| <= a*W, |dy| <= b*H, rounded to whole pixels. scale: (min, max).
    shear: s -> x-shear in (-s, s) degrees; (min, max) x-shear; (xmin, xmax,
    ymin, ymax) both. A positive x-shear tilts vertical lines clockwise. Points
    from outside the image read `fill`. Defaults as torchvision (nearest).
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None, interpolation="nearest",
                 fill=0, rng=None):
        super().__init__(rng)
        self.degrees = _range(degrees, "degrees")
        self.translate, self.scale = translate, scale
        if shear is None or isinstance(shear, Number) or len(shear) == 2:
            self.shear = (_range(shear or 0, "shear"), (0.0, 0.0))
        elif len(shear) == 4:
            self.shear = (_range(shear[:2], "shear"), _range(shear[2:], "shear"))
        else:
            raise ValueError(f"shear must be a number, 2 or 4 numbers, got {shear!r}")
        self.interpolation = _check_interpolation(interpolation)
        self.fill = fill

    def parameters(self, n, h, w, rng):
        """Per-image (angle, translate, scale, shear) arrays for a batch of n."""
        angle = rng.uniform(*self.degrees, n)
        translate = np.zeros((n, 2))
        if self.translate is not None:
            limits = np.array([self.translate[0] * w, self.translate[1] * h])
            translate = np.round(rng.uniform(-limits, limits, (n, 2)))
        scale = np.ones(n) if self.scale is None else rng.uniform(*self.scale, n)
        shear = np.stack([rng.uniform(*self.shear[0], n), rng.uniform(*self.shear[1], n)], 1)
        return angle, translate, scale, shear

    def apply(self, x, rng):
        n, _, h, w = _floating(x, type(self).__name__).shape
        sy, sx = affine_grid((n, h, w), *self.parameters(n, h, w, rng))
        return sample(x, sy, sx, self.fill, self.interpolation)


class RandomRotation(RandomAffine):
    """Rotate each image by a random angle: degrees d -> (-d, d), or (min, max);
    counter-clockwise for positive angles; corners read `fill`."""

    def __init__(self, degrees, interpolation="nearest", fill=0, rng=None):
        super().__init__(degrees, interpolation=interpolation, fill=fill, rng=rng)


class ColorJitter(Transform):
    """Random brightness, contrast and saturation (in this order), per image.

    Each argument v gives a factor in [max(0, 1 - v), 1 + v] (or a (min, max)
    pair): brightness scales the pixels, contrast blends with the image's mean
    grey level, saturation blends with its grey version (no effect on 1-channel
    images). Results are clipped to [0, 1]; grey = 0.299 R + 0.587 G + 0.114 B.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, rng=None):
        super().__init__(rng)
        self.brightness = _range(brightness, "brightness", 1.0, 0.0)
        self.contrast = _range(contrast, "contrast", 1.0, 0.0)
        self.saturation = _range(saturation, "saturation", 1.0, 0.0)

    @staticmethod
    def grey(x):
        """(N, 1, H, W) luma of (N, C, H, W) images with 1 or 3 channels."""
        if x.shape[1] == 1:
            return x
        if x.shape[1] != 3:
            raise ValueError(f"ColorJitter: needs 1 or 3 channels, got {x.shape[1]}")
        wts = np.asarray([0.299, 0.587, 0.114], x.dtype).reshape(1, 3, 1, 1)
        return (x * wts).sum(1, keepdims=True)

    def apply(self, x, rng):
        n = len(_floating(x, "ColorJitter"))

        def factor(lo_hi):
            return rng.uniform(*lo_hi, n).astype(x.dtype).reshape(n, 1, 1, 1)

        x = np.clip(x * factor(self.brightness), 0, 1)
        mean = self.grey(x).mean(axis=(1, 2, 3), keepdims=True)
        f = factor(self.contrast)
        x = np.clip(f * x + (1 - f) * mean, 0, 1)
        f = factor(self.saturation)
        return np.clip(f * x + (1 - f) * self.grey(x), 0, 1)


def _blur_matrix(n, sigma) -> np.ndarray:
    """(n, n) Gaussian blur along one axis (kernel size int(8 sigma + 1), odd; borders reflect)."""
    size = int(8 * sigma + 1)
    size += size % 2 == 0
    offsets = np.arange(size) - size // 2
    weights = np.exp(-offsets ** 2 / (2.0 * sigma ** 2))
    weights /= weights.sum()
    src = np.arange(n)[:, None] + offsets[None, :]
    period = max(2 * (n - 1), 1)
    src = np.abs(src) % period
    src = np.where(src >= n, period - src, src)
    m = np.zeros((n, n))
    np.add.at(m, (np.repeat(np.arange(n), size), src.ravel()), np.tile(weights, n))
    return m


class ElasticTransform(Transform):
    """Elastic distortion (Simard et al. 2003): move every pixel by a smooth random field.

    The field is uniform noise in [-1, 1] blurred with a Gaussian of width
    `sigma` pixels, times alpha/2 pixels (alpha and sigma mean what they mean
    in torchvision's ElasticTransform). Larger sigma: smoother, more local
    bends become broad warps; larger alpha: stronger.
    """

    def __init__(self, alpha=50.0, sigma=5.0, interpolation="bilinear", fill=0, rng=None):
        super().__init__(rng)
        if sigma <= 0 or alpha < 0:
            raise ValueError(f"ElasticTransform: need sigma > 0 and alpha >= 0, got {sigma}, {alpha}")
        self.alpha, self.sigma = float(alpha), float(sigma)
        self.interpolation = _check_interpolation(interpolation)
        self.fill = fill

    def apply(self, x, rng):
        n, _, h, w = _floating(x, "ElasticTransform").shape
        noise = rng.uniform(-1.0, 1.0, (n, 2, h, w))
        field = _blur_matrix(h, self.sigma) @ noise @ _blur_matrix(w, self.sigma).T
        field *= self.alpha / 2
        sy = np.arange(h)[None, :, None] + field[:, 1]
        sx = np.arange(w)[None, None, :] + field[:, 0]
        return sample(x, sy, sx, self.fill, self.interpolation)


ElasticDistortion = ElasticTransform


_autograd_random.on_seed(seed)  # minicnn.manual_seed(n) resets this module's generator too
