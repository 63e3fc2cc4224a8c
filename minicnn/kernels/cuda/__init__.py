"""GPU kernels: numba.cuda functions on device arrays, with the names and signatures of
minicnn.kernels.cpu (NCHW, float32 or float64), so an op picks its kernels by the array it holds
(minicnn.kernels.backend.kernels_for) and calls them the same way.

Every function takes numba.cuda device arrays (NumPy arguments are copied to the GPU) and returns
new device arrays; nothing is copied back to the host. Convolution is im2col + a tiled
shared-memory GEMM (conv.py, im2col.py, matmul.py); pooling, batch norm and local response norm are
direct kernels with one thread per output element (pool.py, batchnorm.py). The fully connected
layer (linear.py) is the same GEMM, cross-entropy (loss.py) one thread per row. The activations,
the autograd engine's helpers (``add``, ``astype``, ``full``, ``sum_to_shape``), batch norm's
running statistics and the SGD / Adam updates are element-wise kernels (elementwise.py). How
kernels are launched (grid-stride loops, tile size, the simulator) is in launch.py.

Importing this package needs numba.cuda (the numba-cuda package) but no GPU: kernels compile on
first call. Under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) everything runs, slowly, on the
CPU.
"""
from .batchnorm import (batch_norm_backward, batch_norm_forward, batch_norm_stats,
                        local_response_norm_backward, local_response_norm_forward)
from .conv import (conv2d_backward, conv2d_bias_grad, conv2d_forward, conv2d_input_grad,
                   conv2d_weight_grad, release_buffers)
from .elementwise import (adam_update, add, astype, batch_norm_invstd, batch_norm_update_running, bias_add,
                          full, relu_backward, relu_forward, sgd_update, sigmoid_backward, sigmoid_forward,
                          sum_to_shape, tanh_backward, tanh_forward)
from .linear import linear_backward, linear_forward
from .loss import cross_entropy_backward, cross_entropy_forward
from .matmul import matmul
from .pool import (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward,
                   adaptive_max_pool2d_backward, adaptive_max_pool2d_forward, avg_pool2d_backward,
                   avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward)
