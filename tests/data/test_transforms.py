"""Transforms: shapes, ranges and the invariants each one promises."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn
from minicnn.data import transforms as T


def images(n=4, c=1, h=8, w=8, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


ALL = [
    T.ToTensor(), T.Normalize((0.5,), (0.25,)), T.Pad(0), T.Resize((8, 8)),
    T.RandomHorizontalFlip(), T.RandomCrop(8, padding=2), T.RandomRotation(15),
    T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10),
    T.ColorJitter(0.3, 0.3, 0.3), T.ElasticTransform(alpha=20.0, sigma=2.0),
]


@pytest.mark.parametrize("t", ALL, ids=lambda t: type(t).__name__)
def test_layout_dtype_kept_and_input_untouched(t):
    x = images(c=3)
    before = x.copy()
    out = t(x)
    assert out.shape == x.shape and out.dtype == np.float32
    single = t(x[0])
    assert single.shape == x.shape[1:] and single.dtype == np.float32
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("t", ALL[1:], ids=lambda t: type(t).__name__)
def test_bad_layout_is_refused(t):
    with pytest.raises(ValueError, match="expected an image"):
        t(np.zeros((8, 8), np.float32))


def test_interpolating_transforms_want_float():
    with pytest.raises(TypeError, match="ToTensor"):
        T.RandomRotation(10)(np.zeros((1, 8, 8), np.uint8))


def test_to_tensor_scales_uint8_and_adds_a_channel():
    x = np.array([[0, 255], [51, 102]], np.uint8)
    out = T.ToTensor()(x)
    assert out.shape == (1, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], [[0, 1], [0.2, 0.4]], rtol=1e-6)
    f = images()
    assert T.ToTensor()(f) is f


def test_compose_applies_in_order():
    x = images()
    t = T.Compose([T.Pad(1), T.Normalize((0.5,), (0.5,))])
    np.testing.assert_allclose(t(x), (np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))) - 0.5) / 0.5)
    assert "Pad" in repr(t) and "Normalize" in repr(t)


def test_normalize_then_inverse_is_identity_and_standardises():
    x = images(n=50, c=3, seed=1)
    mean, std = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))
    t = T.Normalize(mean, std)
    y = t(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-4)
    np.testing.assert_allclose(t.inverse(y), x, atol=1e-6)
    np.testing.assert_allclose(t.inverse(y[0]), x[0], atol=1e-6)
    with pytest.raises(ValueError, match="channels"):
        T.Normalize((0.1, 0.2), (1, 1))(x)
    with pytest.raises(ValueError, match="non-zero"):
        T.Normalize((0.1,), (0,))


def test_pad_sides_and_modes():
    x = images(n=2, h=4, w=5)
    out = T.Pad((1, 2, 3, 4), fill=0.5)(x)  # left, top, right, bottom
    assert out.shape == (2, 1, 4 + 2 + 4, 5 + 1 + 3)
    np.testing.assert_array_equal(out[:, :, 2:6, 1:6], x)
    assert np.all(out[:, :, :2] == 0.5) and np.all(out[:, :, :, :1] == 0.5)
    np.testing.assert_array_equal(T.Pad(2, padding_mode="reflect")(x),
                                  np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect"))
    assert T.Pad((1, 2))(x).shape == (2, 1, 8, 7)  # (left/right, top/bottom)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       seed=st.integers(0, 2**16))
def test_flip_twice_and_full_crop_are_identities(n, c, h, w, seed):
    x = images(n, c, h, w, seed)
    flip = T.RandomHorizontalFlip(p=1.0)
    np.testing.assert_array_equal(flip(x), x[..., ::-1])
    np.testing.assert_array_equal(flip(flip(x)), x)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    np.testing.assert_array_equal(T.RandomCrop((h, w), padding=0, rng=seed)(x), x)


def test_flip_decides_per_image():
    x = images(n=200)
    out = T.RandomHorizontalFlip(p=0.5, rng=1)(x)
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped | kept) and 60 < flipped.sum() < 140


def test_random_crop_cuts_a_window_of_the_padded_image():
    x = images(n=30, c=2, h=6, w=7)
    out = T.RandomCrop((6, 7), padding=2, rng=3)(x)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = []
    for i in range(len(x)):
        hits = [(a, b) for a in range(5) for b in range(5)
                if np.array_equal(out[i], padded[i, :, a:a + 6, b:b + 7])]
        assert hits, "every crop is a window of the padded image"
        offsets.append(hits[0])
    assert len(set(offsets)) > 5  # independent offsets per image


def test_random_crop_size_checks():
    x = images(h=8, w=8)
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop(10)(x)
    assert T.RandomCrop(10, pad_if_needed=True)(x).shape == (4, 1, 10, 10)


def test_resize_keeps_constants_and_identity():
    x = images(n=2, c=3, h=7, w=9)
    np.testing.assert_allclose(T.Resize((7, 9))(x), x, atol=1e-6)
    flat = np.full((1, 2, 5, 6), 0.3, np.float32)
    np.testing.assert_allclose(T.Resize((13, 4))(flat), 0.3, atol=1e-6)
    assert T.Resize(14)(x).shape == (2, 3, 14, 18)  # int: the shorter side, aspect kept


@pytest.mark.torch
@pytest.mark.parametrize("size", [(16, 16), (5, 3), (8, 20)])
def test_resize_matches_torch_bilinear(size):
    torch = pytest.importorskip("torch")
    x = images(n=2, c=3, h=8, w=10)
    want = torch.nn.functional.interpolate(torch.from_numpy(x), size=size, mode="bilinear",
                                           align_corners=False, antialias=False).numpy()
    np.testing.assert_allclose(T.Resize(size)(x), want, atol=1e-6)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotation_by_zero_is_identity_and_by_90_is_rot90(interpolation):
    x = images(n=3, c=2, h=9, w=9)
    np.testing.assert_array_equal(T.RandomRotation(0, interpolation=interpolation)(x), x)
    quarter = T.RandomRotation((90, 90), interpolation=interpolation)(x)
    np.testing.assert_allclose(quarter, np.rot90(x, 1, axes=(2, 3)), atol=1e-6)  # counter-clockwise


def test_rotation_draws_one_angle_per_image_and_fills_corners():
    x = np.ones((20, 1, 9, 9), np.float32)
    out = T.RandomRotation(45, interpolation="bilinear", rng=0)(x)
    assert len({o.tobytes() for o in out}) > 10
    assert np.all(out[:, :, 4, 4] == 1)  # the centre stays put
    corners = T.RandomRotation((45, 45), fill=0)(x)
    assert np.all(corners[:, :, 0, 0] == 0)


def test_affine_translate_is_a_whole_pixel_shift():
    x = images(n=40, h=8, w=8, seed=2)
    out = T.RandomAffine(0, translate=(0.25, 0), rng=4)(x)
    shifts = set()
    for i in range(len(x)):
        for dx in range(-2, 3):
            want = np.zeros_like(x[i])
            src = x[i, :, :, max(0, -dx):8 - max(0, dx)]
            want[:, :, max(0, dx):max(0, dx) + src.shape[-1]] = src
            if np.array_equal(out[i], want):
                shifts.add(dx)
                break
        else:
            raise AssertionError(f"image {i} is not a shift by -2..2 pixels")
    assert len(shifts) > 2


def test_affine_shear_slants_a_vertical_line_clockwise():
    x = np.zeros((1, 1, 9, 9), np.float32)
    x[..., :, 4] = 1  # a vertical line through the centre
    out = T.RandomAffine(0, shear=(45, 45))(x)[0, 0]
    want = np.zeros((9, 9), np.float32)
    for y in range(9):
        want[y, 4 - (y - 4)] = 1  # rows below the centre move left, rows above move right
    np.testing.assert_array_equal(out, want)
    row = np.zeros((1, 1, 9, 9), np.float32)
    row[..., 4, :] = 1  # the centre row does not move under an x-shear
    np.testing.assert_array_equal(T.RandomAffine(0, shear=(30, 30))(row), row)


def test_affine_identity_and_scale():
    x = images(n=3, h=9, w=9)
    np.testing.assert_array_equal(T.RandomAffine(0, translate=(0, 0), scale=(1, 1), shear=0)(x), x)
    dot = np.zeros((1, 1, 9, 9), np.float32)
    dot[..., 4, 5] = 1  # one pixel right of the centre
    big = T.RandomAffine(0, scale=(2, 2))(dot)
    np.testing.assert_array_equal(big[0, 0, 4], [0, 0, 0, 0, 0, 1, 1, 0, 0])  # twice as far, twice as wide


def test_color_jitter_identity_range_and_invariants():
    x = images(n=8, c=3)
    np.testing.assert_array_equal(T.ColorJitter()(x), x)
    out = T.ColorJitter(0.8, 0.8, 0.8, rng=0)(x)
    assert out.min() >= 0 and out.max() <= 1 and not np.allclose(out, x)
    grey = 0.4 + 0.2 * images(n=8, c=1)
    np.testing.assert_allclose(T.ColorJitter(saturation=0.9)(grey), grey, atol=1e-6)  # no colour
    mid = 0.4 + 0.2 * x
    out = T.ColorJitter(contrast=0.3, rng=1)(mid)  # no clipping at these values
    np.testing.assert_allclose(T.ColorJitter.grey(out).mean(axis=(1, 2, 3)),
                               T.ColorJitter.grey(mid).mean(axis=(1, 2, 3)), atol=1e-5)
    ratio = T.ColorJitter(brightness=0.3, rng=2)(mid) / mid
    np.testing.assert_allclose(ratio, ratio[:, :1, :1, :1] * np.ones_like(ratio), rtol=1e-5)


def test_elastic_identity_constant_and_variety():
    x = images(n=4, h=12, w=12)
    np.testing.assert_allclose(T.ElasticTransform(alpha=0.0)(x), x, atol=1e-6)
    flat = np.full((3, 1, 12, 12), 0.7, np.float32)
    np.testing.assert_allclose(T.ElasticTransform(alpha=30.0, sigma=2.0, fill=0.7)(flat), 0.7, atol=1e-5)
    out = T.ElasticTransform(alpha=30.0, sigma=2.0, rng=0)(np.repeat(x[:1], 4, axis=0))
    assert not np.allclose(out[0], out[1]) and np.abs(out - x[:1]).max() > 0.05
    assert T.ElasticDistortion is T.ElasticTransform


def test_seeded_transforms_repeat():
    x = images(n=6, c=3)
    t = T.Compose([T.RandomCrop(8, padding=2), T.RandomRotation(20), T.ColorJitter(0.5, 0.5, 0.5)])
    T.seed(5)
    a = t(x)
    T.seed(5)
    np.testing.assert_array_equal(t(x), a)
    minicnn.manual_seed(5)  # reaches the data generator too
    np.testing.assert_array_equal(t(x), a)
    minicnn.manual_seed(6)
    assert not np.array_equal(t(x), a)
    own = T.RandomRotation(30, rng=7)
    np.testing.assert_array_equal(own(x), T.RandomRotation(30, rng=7)(x))
    with pytest.raises(TypeError, match="rng"):
        T.RandomRotation(30, rng="seven")


def test_shared_generator_follows_manual_seed_even_before_first_use(monkeypatch):
    x = images(n=6)
    t = T.RandomRotation(30, interpolation="bilinear")
    runs = []
    for _ in range(2):
        minicnn.manual_seed(11)
        monkeypatch.setattr(T, "_rng", None)  # as if this module were imported after manual_seed
        runs.append(t(x))
    np.testing.assert_array_equal(runs[0], runs[1])
