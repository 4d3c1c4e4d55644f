"""Small LLVM intrinsics for the kernels: raw addresses, software prefetch, an atomic add.

Addresses instead of arrays keep hot loops free of reference counting; a prefetch asks
for a cache line without waiting for it (the load that needs it comes later); the
atomic add is how threads share out work (:func:`take_item`).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
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


@intrinsic
def _fetch_add(typingctx, addr, val):
    """Atomically add ``val`` (int64) to the int64 at ``addr`` (uint64); the old value."""
    def codegen(context, builder, sig, args):
        return builder.atomic_rmw("add", _ptr(builder, args[0], ir.IntType(64)), args[1], "monotonic")
    return types.int64(types.uint64, types.int64), codegen


@njit(cache=True, nogil=True)
def take_item(counters, n, end):
    """The next of ``n`` items for a thread taking from the front (``end`` 0) or back (1).

    ``counters``: the address (uint64) of int64 ``[taken, from_front, from_back]``, zero
    at the start and shared by every thread of one call
    (:func:`actimg._parallel.run_from_both_ends`). Returns a position in ``[0, n)``, or
    -1 when all are taken. Each successful take adds one to exactly one end's count and
    at most ``n`` succeed, so the positions handed out from the two ends never meet.
    """
    one = np.int64(1)
    if _fetch_add(counters, one) >= n:
        return -1
    if end == 0:
        return _fetch_add(counters + np.uint64(8), one)
    return n - 1 - _fetch_add(counters + np.uint64(16), one)
