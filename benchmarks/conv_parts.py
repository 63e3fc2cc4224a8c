"""Where the time of one convolution goes: each pass of minicnn's CPU kernel timed on its own.

    python benchmarks/conv_parts.py --shape 64 64 8 8 --out 128 --kernel 3 --stride 2 --padding 1
    python benchmarks/conv_parts.py --shape 64 32 16 16 --out 64 --kernel 3 --padding 1   # Winograd
    (with minicnn installed, `pip install -e .`, or from the checkout's root with PYTHONPATH=.)

Runs the passes minicnn/kernels/cpu/conv.py runs for each chunk of the batch (im2col, the matrix
products, the layout changes, col2im; or Winograd's transforms and products), each pass over the
whole batch chunk by chunk in the same reused buffers, and prints its milliseconds for the batch,
next to the whole conv2d_forward and conv2d_backward calls (and PyTorch's, when installed). One
thread, float32, groups=1. The passes take turns (``--rounds`` turns of ``--calls`` calls each,
bench_kernels.median_ms) so that a change in the machine's load hits them alike; medians.

A pass timed alone finds its inputs in cache, so the parts add up to less than the whole call:
the difference is what the passes cost each other (cache misses, Python between them). The
products run through thin.product and thin.product_t as conv.py calls them (register tiles for
thin matrices, else NumPy's BLAS, the library conv.py calls from compiled code); Winograd's dU
products in np.matmul (the same BLAS).
"""
import argparse

import numpy as np
from bench_kernels import median_ms                  # the same turns, one thread pinned

from minicnn.kernels.cpu import conv, direct, im2col, thin, winograd
from minicnn.kernels.cpu.chunks import chunks
from minicnn.kernels.shape_rules import conv_output_size

try:
    import torch
    import torch.nn.functional as torch_F
except ImportError:
    torch = None


def im2col_parts(x, w, gy, stride, padding, dilation):
    """{name: function running that pass over the batch}: the im2col path's passes."""
    (n, c), (o, _, kh, kw), out_hw = x.shape[:2], w.shape, gy.shape[2:]
    k, pixels = c * kh * kw, out_hw[0] * out_hw[1]
    geometry = (kh, kw, *stride, *padding, *dilation, *out_hw)          # as conv.py passes it
    per_image = conv._per_image(1, out_hw)
    runs = chunks(n, k * pixels * x.itemsize, 1)
    most = max(stop - start for start, stop in runs)
    blocks, images = conv._block_size(most, per_image)
    width = conv.row_stride(pixels * images, x.dtype)
    cols = np.zeros((blocks, k, width), x.dtype)
    padded = np.zeros((x.shape[2] + 2 * padding[0]) * (x.shape[3] + 2 * padding[1]) * images, x.dtype)  # a channel
    rows = np.zeros((o, width), x.dtype)
    w_mat, w_t = w.reshape(o, k), np.ascontiguousarray(w.reshape(o, k).T)
    y = np.empty((n, o, pixels), x.dtype)
    g = gy.reshape(n, o, pixels)
    gx = np.empty_like(x)
    gw = np.empty((k, o), x.dtype)                  # gW^T, as conv.py makes it
    bias = np.zeros(o, x.dtype)

    def over_runs(body):
        def run():
            for start, stop in runs:
                body(start, stop, stop - start)
        return run

    def view(m):              # the chunk's columns: (m, K, L) per image, or (1, K, L*m)
        return cols[:m] if per_image else cols

    def columns(start, stop, m):
        im2col.im2col(x[start:stop], *geometry, padded, view(m))

    def col2im(start, stop, m):
        im2col.col2im(view(m), *geometry, padded, gx[start:stop])

    if per_image:
        def forward_products(start, stop, m):
            for i in range(m):
                thin.product(w_mat, cols[i], y[start + i], pixels)

        def gy_rows(start, stop, m):                 # only when the rows have a gap
            for i in range(m):
                im2col.copy_rows(g[start + i], rows)

        def gw_products(start, stop, m):
            for i in range(m):
                thin.product_t(cols[i], rows, 0.0 if i == 0 else 1.0, gw, pixels)

        def gx_products(start, stop, m):
            for i in range(m):
                thin.product(w_t, rows, cols[i], pixels)

        forward = {"im2col": columns, "W @ cols, per image": forward_products}
        backward = {"gy into gapped rows": gy_rows} if width != pixels else {}
        if conv.uses_direct_weight_grad(o, stride, 1, out_hw):         # direct.py instead of im2col + gW
            offsets, xp_size, gyw_shape = direct.layout(x.shape, o, (kh, kw), padding, dilation, out_hw)
            xp, gyw, gwt = np.zeros(xp_size, x.dtype), np.zeros(gyw_shape, x.dtype), np.empty((k, o), x.dtype)
            wp, length = x.shape[3] + 2 * padding[1], gyw_shape[1]

            def direct_layouts(start, stop, m):
                for i in range(m):
                    im2col.pad_image(x, start + i, *padding, xp)
                    im2col.widen(g[start + i], out_hw[0], wp, gyw)

            def gw_direct(start, stop, m):
                for i in range(m):
                    direct.weight_grad_image(xp, gyw, offsets, k, length, i == 0, gwt)

            backward.update({"x padded, gy widened": direct_layouts, "gW direct loops": gw_direct})
        else:
            backward.update({"im2col (again)": columns, "gW products": gw_products})
        backward.update({"gx products": gx_products, "col2im": col2im})
    else:
        def forward_products(start, stop, m):
            thin.product(w_mat, cols[0], rows, pixels * m)

        def to_nchw(start, stop, m):
            im2col.rows_to_nchw(rows[:, :pixels * m], bias, y[start:stop])

        def to_rows(start, stop, m):
            im2col.nchw_to_rows(g[start:stop], rows[:, :pixels * m])

        def gw_products(start, stop, m):
            thin.product_t(cols[0], rows, 0.0, gw, pixels * m)

        def gx_products(start, stop, m):
            thin.product(w_t, rows, cols[0], pixels * m)

        forward = {"im2col": columns, "W @ cols": forward_products, "rows_to_nchw": to_nchw}
        backward = {"nchw_to_rows": to_rows, "im2col (again)": columns, "gW = cols @ rows^T": gw_products,
                    "gx = W^T @ rows": gx_products, "col2im": col2im}
    how = f"im2col + GEMM, {'one column matrix per image' if per_image else 'one per chunk'}"
    if "gW direct loops" in backward:
        how += ", the weight gradient by direct loops"
    return how, len(runs), ({name: over_runs(f) for name, f in forward.items()},
                            {name: over_runs(f) for name, f in backward.items()})


def winograd_parts(x, w, gy, padding):
    """{name: function running that pass over the batch}: Winograd F(2x2, 3x3)'s passes."""
    (n, c), o = x.shape[:2], w.shape[0]
    th, tw = winograd.tiles(gy.shape[2:])
    runs = chunks(n, 16 * (c + o) * th * tw * x.itemsize, 1)
    most = max(stop - start for start, stop in runs) * th * tw
    u = np.empty((16, o, c), x.dtype)
    winograd.weight_transform(w, u)
    bias = np.zeros(o, x.dtype)
    y = np.empty(gy.shape, x.dtype)
    gx = np.empty_like(x)
    du = np.empty((16, o, c), x.dtype)
    gw = np.empty(w.shape, x.dtype)
    gap = 64 // x.itemsize                          # as conv._tile_buffer lays them out
    v_flat, m_flat = np.zeros((16, c * most + gap), x.dtype), np.zeros((16, o * most + gap), x.dtype)

    def tiles(flat, rows, cols):
        return flat[:, :rows * cols].reshape(16, rows, cols)

    def over_runs(body):
        def run():
            for start, stop in runs:
                body(start, stop, (stop - start) * th * tw)
        return run

    def input_transform(start, stop, p):
        winograd.input_transform(x[start:stop], *padding, th, tw, v_flat)

    def products(start, stop, p):
        v, m = tiles(v_flat, c, p), tiles(m_flat, o, p)
        for xi in range(16):
            thin.product(u[xi], v[xi], m[xi], p)

    def output_transform(start, stop, p):
        winograd.output_transform(m_flat, bias, th, tw, y[start:stop])

    def gy_transform(start, stop, p):
        winograd.output_transform_adjoint_tile_major(gy[start:stop], th, tw, m_flat)

    def x_transform(start, stop, p):
        winograd.input_transform_tile_major(x[start:stop], *padding, th, tw, v_flat)

    def du_products(start, stop, p):
        np.matmul(tiles(m_flat, p, o).transpose(0, 2, 1), tiles(v_flat, p, c), out=du)

    def dv_products(start, stop, p):
        dm, dv = tiles(m_flat, p, o), tiles(v_flat, p, c)
        for xi in range(16):
            thin.product(dm[xi], u[xi], dv[xi], c)

    def gx_transform(start, stop, p):
        winograd.input_transform_adjoint_tile_major(v_flat, *padding, th, tw, gx[start:stop])

    forward = {"weight transform": lambda: winograd.weight_transform(w, u),
               "input transform": over_runs(input_transform), "16 products U @ V": over_runs(products),
               "output transform (+ bias)": over_runs(output_transform)}
    backward = {"gy transform (A gy A^T)": over_runs(gy_transform),
                "input transform, tile-major": over_runs(x_transform),
                "dU products": over_runs(du_products), "dV products": over_runs(dv_products),
                "input transform's adjoint": over_runs(gx_transform),
                "weight transform's adjoint": lambda: winograd.weight_transform_adjoint(du, gw)}
    return "Winograd F(2x2,3x3)", len(runs), (forward, backward)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=4, metavar=("N", "C", "H", "W"), default=[64, 64, 8, 8])
    parser.add_argument("--out", type=int, default=128, help="output channels")
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--padding", type=int, default=0)
    parser.add_argument("--dilation", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=5)
    opts = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal(opts.shape, dtype=np.float32)
    w = 0.1 * rng.standard_normal((opts.out, opts.shape[1], opts.kernel, opts.kernel), dtype=np.float32)
    b = rng.standard_normal(opts.out, dtype=np.float32)
    stride, padding, dilation = ((v, v) for v in (opts.stride, opts.padding, opts.dilation))
    out_hw = conv_output_size(opts.shape[2:], w.shape[2:], stride, padding, dilation)
    gy = rng.standard_normal((opts.shape[0], opts.out, *out_hw), dtype=np.float32)
    args = (stride, padding, dilation, 1)

    if conv.uses_winograd(w.shape, stride, dilation, 1):
        how, count, (forward, backward) = winograd_parts(x, w, gy, padding)
    else:
        how, count, (forward, backward) = im2col_parts(x, w, gy, stride, padding, dilation)
    whole = {"conv2d_forward": lambda: conv.conv2d_forward(x, w, b, *args),
             "conv2d_backward": lambda: conv.conv2d_backward(x, w, gy, *args)}
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tgy = torch.from_numpy(gy)
        whole["PyTorch forward"] = lambda: torch_F.conv2d(tx.detach(), tw.detach(), tb.detach(), *args)

        def torch_both():
            tx.grad = tw.grad = tb.grad = None
            torch_F.conv2d(tx, tw, tb, *args).backward(tgy)
        whole["PyTorch forward + backward"] = torch_both
    ms = median_ms({**forward, **backward, **whole}, opts.rounds * opts.calls, 1, opts.rounds)

    print(f"# conv {tuple(opts.shape)} -> {opts.out}, k{opts.kernel} s{opts.stride} p{opts.padding} "
          f"d{opts.dilation}: {how}, {count} chunks; one thread, milliseconds for the batch\n")
    for title, parts, call in (("forward", forward, "conv2d_forward"), ("backward", backward, "conv2d_backward")):
        print(f"{title}:")
        for name in parts:
            print(f"  {name:32s} {ms[name]:7.2f}")
        total = sum(ms[name] for name in parts)
        print(f"  {'sum of the parts':32s} {total:7.2f}\n  {call:32s} {ms[call]:7.2f}\n")
    for name in whole:
        if name.startswith("PyTorch"):
            print(f"{name:34s} {ms[name]:7.2f}")


if __name__ == "__main__":
    main()
