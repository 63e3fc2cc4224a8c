"""CPU kernels: Numba-compiled pure functions on NumPy arrays (NCHW, float32 or float64).

Threads: convolution, pooling and linear layers run chunks of the batch on
numba.get_num_threads() threads, minicnn's own spinning workers, BLAS on one thread each
(chunks.py); batch norm and the element-wise kernels use Numba's parallel loops. Numba's OpenMP
layer and a multi-threaded OpenBLAS slow each other down 3-10x when they alternate (threads of
each spin while the other works; libgomp's wait policy cannot be changed for Numba alone, PyTorch
shares it), so Numba's ``workqueue`` layer is selected here unless NUMBA_THREADING_LAYER says
otherwise. Small calls run on the calling thread (chunks.PARALLEL_MIN_WORK). Thread counts follow
``numba.set_num_threads`` (Numba loops and the workers); with one Numba thread, BLAS keeps its own
count (threadpoolctl), with several the products run BLAS on one thread each (chunks.py).
"""
import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

from .batchnorm import (batch_norm_backward, batch_norm_forward, batch_norm_stats,  # noqa: E402
                        local_response_norm_backward, local_response_norm_forward)
from .conv import (conv2d_backward, conv2d_bias_grad, conv2d_forward, conv2d_input_grad,  # noqa: E402
                   conv2d_weight_grad, release_buffers)
from .elementwise import (adam_update, add, astype, batch_norm_invstd, batch_norm_update_running,  # noqa: E402
                          full, relu_backward, relu_forward, sgd_update, sigmoid_backward, sigmoid_forward,
                          sum_to_shape, tanh_backward, tanh_forward)
from .linear import linear_backward, linear_forward  # noqa: E402
from .loss import cross_entropy_backward, cross_entropy_forward  # noqa: E402
from .pool import (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward,  # noqa: E402
                   adaptive_max_pool2d_backward, adaptive_max_pool2d_forward, avg_pool2d_backward,
                   avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward)
