"""Small LLVM intrinsics for the kernels: raw addresses and software prefetch.

Addresses instead of arrays keep hot loops free of reference counting; a prefetch asks
for a cache line without waiting for it (the load that needs it comes later).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _ptr(builder, addr, ty):
    return builder.inttoptr(addr, ty.as_pointer())


@intrinsic
def _address(typingctx, arr):
    """Address of an array's first element (uint64)."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.ptrtoint(a.data, ir.IntType(64))
    return types.uint64(arr), codegen


@intrinsic
def _prefetch(typingctx, addr):
    """Prefetch the cache line at ``addr`` (uint64) for reading, into every cache level."""
    def codegen(context, builder, sig, args):
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [_ptr(builder, args[0], ir.IntType(8)), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.void(types.uint64), codegen
