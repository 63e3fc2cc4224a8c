"""A small array on the stack, for accumulators that LLVM can then keep in vector registers.

Why: a loop nest that adds into a few dozen sums (direct.py's weight gradient: 2 output channels
x 2 taps x 16 pixels) runs at the machine's speed only when the sums stay in registers across the
long loop over pixels. An np.empty array lives on the heap, where LLVM must load and store each
sum on every step; an array on the stack (LLVM's ``alloca``) whose indices are constants once the
small loops over it are unrolled is turned into registers. Numba has no stack arrays, so
``stack_array`` makes one: a 1-D C-contiguous array of ``size`` entries (an integer literal) of
``dtype``, uninitialised, valid until the function that called it returns (do not return it or
keep it).
"""
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


@intrinsic
def stack_array(typingctx, size, dtype):
    """stack_array(size, dtype): see the module docstring."""
    if not isinstance(size, types.IntegerLiteral):
        return None
    count, item = size.literal_value, dtype.dtype
    array_type = types.Array(item, 1, "C")

    def codegen(context, builder, signature, args):
        entry = context.get_data_type(item)
        data = cgutils.alloca_once(builder, entry, size=count)       # in the function's entry block
        array = make_array(array_type)(context, builder)
        intp = context.get_value_type(types.intp)
        itemsize = context.get_abi_sizeof(entry)
        populate_array(array, data=data, shape=[intp(count)], strides=[intp(itemsize)],
                       itemsize=intp(itemsize), meminfo=None)
        return array._getvalue()

    return array_type(size, dtype), codegen
