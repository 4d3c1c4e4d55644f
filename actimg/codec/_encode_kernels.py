"""Numba kernels that draw action images.

Exactness of the fast uint8 path (why it may skip ``exp`` per pixel)
--------------------------------------------------------------------
The published image is ``x32 = float32(exp(-((c-u)^2 + (r-v)^2) / (2 s^2)))`` and the
8-bit image ``round(255 * x32) = floor(255 * x32 + 0.5)`` (``255 * x32`` is exact in
float64). Write ``G`` for the exact real Gaussian and ``e = 2^-24`` for the float32
unit roundoff. Per image we tabulate, in float32, ``X[c] = 255 exp(-(c-u)^2 / (2 s^2))``
over the columns and ``Y[r] = exp(-(r-v)^2 / (2 s^2))`` over the rows of a blob's window
(:func:`_gauss_table`: float64, ``exp`` at the start of every 32 entries and an exact
two-multiplication recurrence in between, relative error < 1e-11 before the float32
rounding), and per pixel compute ``z = float32(X[c] * Y[r])``. Three float32 roundings
(X, Y, the product) and the 1e-11 give ``|z - 255 G| <= 255 G (3 e + 3e-11)``; the
dense value has ``x64 = G (1 + 1e-14)`` (arguments ``<= 2 U8_SUPPORT < 19``: a few ulps)
and ``x32 = x64 (1 + e)``, so ``|z - 255 x32| <= 255 G (4 e + 4e-11) < 6.1e-5``.

Rounding without a conversion: ``t = float32(z + MAGIC)`` with ``MAGIC = 1.5 * 2^23``
is ``MAGIC + rint(z)`` exactly (``z < 2^22``), the low byte of its bit pattern is
``k = rint(z)``, and ``d = z - (t - MAGIC)`` is exact (Sterbenz), ``|d| <= 1/2``. When
``|d| <= 1/2 - TIE_MARGIN`` (``TIE_MARGIN = 8e-5 > 6.1e-5``), ``255 x32`` lies in the
same interval ``(k - 1/2, k + 1/2)`` and ``floor(255 x32 + 0.5) == k``. A row whose span
holds a pixel closer to a boundary than that (about ``2 TIE_MARGIN`` of the drawn
pixels) is redone per channel by :func:`_fix_row`, with the dense formula for exactly
those pixels.

The gripper floor: ``B = k if x32 > floor32 else fl`` is decided as ``z > thr`` with
``thr = float32(255 floor32)`` (``|thr - 255 floor32| <= 255 floor32 e``). With the
gripper closed (``fl = 0``) a pixel with ``|z - thr| < 255 floor32 * FLOOR_BAND``
(``FLOOR_BAND = 1e-6 > 5 e``) is redone densely, otherwise the two tests agree. With it
open (``fl = round(255 floor32)``) the tests can only disagree when
``|z - 255 floor32| <= 6.1e-5 < TIE_MARGIN``; a pixel that passed the tie test then has
``round(255 floor32) == k``, so both branches write the same byte.

Truncation radius: a uint8 pixel is 0 iff ``x32 < 1/510``; outside
``d^2 > 2 s^2 ln(510 (1 + 1e-6))`` the dense value is below ``(1/510) / (1 + 1e-6)``, and
float32 rounding (relative ``2^-24 << 1e-6``) keeps it below ``1/510``, so those pixels
are exactly 0 (for B: at most the floor, i.e. ``fl``). The tables are 0 outside each
blob's square window, which yields exactly the template value there (R = G = 0,
B = ``fl``), and inside the window but outside a disc the same rule gives the exact 0
(or ``fl``), since those pixels are below the truncation bound by a relative 1e-6. So a
channel computed anywhere is exact, and each row is drawn over the template in whole
blocks of SPAN columns (16: one vector of float32 lanes, no scalar remainders): R and G
over the blocks that cover the union of the three discs at that row (each disc widened
by one column against rounding of its square root), B only over the blocks of its own
disc (it is smaller: only pixels above the floor), ``fl`` elsewhere. The tie tests of
pixels outside a channel's disc may fire (their value is near 1/2); the redo of
:func:`_fix_row` covers the disc only, and outside it the fast byte is already exact.
The float32 image is truncated where the value is below ``1e-8`` (so it differs from the
dense one by < 1e-8 there, and by <= 1 float32 ulp elsewhere).

Writing the output
------------------
Each uint8 row is built in a small scratch row that stays in L1 and then copied out in
64-byte blocks aligned to the destination address (:func:`_put_row`): every output
cache line is written once, whole. The block that straddles two rows is gathered in a
64-byte buffer; blocks at the ends of an image, which it shares with the neighbouring
image (drawn by whichever thread takes that one), get plain byte stores.
``NONTEMPORAL = True`` marks the block stores ``!nontemporal`` (streaming stores on
x86, which skip the read-for-ownership of the output lines; only a hint elsewhere) and
the kernel then ends with a fence so that the pixels are visible to the thread that
reads them. On a 2-core AMD EPYC (Zen 4) VM, 2 threads, the 2x41x512x512 benchmark
kernel took 2.2-2.7 ms with streaming stores and 2.7-3.6 ms with plain block stores
(noisy shared machine; streaming won every same-process comparison but one). The row
loop passes addresses, not arrays, to its helpers, so it has no reference counting
(atomic instructions, which also drain streaming stores); only the rare
:func:`_fix_row` takes arrays. The one atomic instruction is the add that hands out
each image (:func:`_llvm.take_item`).
"""

from __future__ import annotations

import math
import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..geometry._kernels import _project
from ._llvm import _address, _ptr, take_item
from ..geometry._rotation_kernels import matrix_of_euler

TIE_MARGIN = 8e-5
FLOOR_BAND = 1e-6
FLOOR_REL_MARGIN = 1e-7  # float32 path
U8_SUPPORT = math.log(510.0 * (1.0 + 1e-6))   # in units of 1 / (2 s^2)
F32_SUPPORT = math.log(1e8)
MAGIC = 12582912.0  # 1.5 * 2**23: float32(z + MAGIC) - MAGIC == rint(z) for 0 <= z < 2**22
BLOCK = 64          # bytes per output store (one cache line)
SPAN = 16           # columns per vector block of a row (16 float32 lanes: one AVX-512 register)
NONTEMPORAL = True   # see "Writing the output" above


# ---------------------------------------------------------------------------------------
# LLVM helpers (``_llvm``): addresses instead of arrays keep the row loop free of
# reference counting.

def _block_type():
    return ir.VectorType(ir.IntType(64), BLOCK // 8)


@intrinsic
def _bits(typingctx, x):
    """The int32 bit pattern of a float32."""
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(x), codegen


@intrinsic
def _store_block(typingctx, daddr, saddr):
    """BLOCK bytes from ``saddr`` (any alignment) to ``daddr`` (BLOCK-aligned)."""
    def codegen(context, builder, sig, args):
        vt = _block_type()
        v = builder.load(_ptr(builder, args[1], vt), align=1)
        st = builder.store(v, _ptr(builder, args[0], vt), align=BLOCK)
        if NONTEMPORAL:
            st.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        return context.get_dummy_value()
    return types.void(types.uint64, types.uint64), codegen


@intrinsic
def _copy_block(typingctx, daddr, saddr):
    """BLOCK bytes from ``saddr`` to ``daddr``, both any alignment (plain stores)."""
    def codegen(context, builder, sig, args):
        vt = _block_type()
        v = builder.load(_ptr(builder, args[1], vt), align=1)
        builder.store(v, _ptr(builder, args[0], vt), align=1)
        return context.get_dummy_value()
    return types.void(types.uint64, types.uint64), codegen


@intrinsic
def _copy_bytes(typingctx, daddr, saddr, n):
    """memcpy of ``n`` bytes."""
    def codegen(context, builder, sig, args):
        i8 = ir.IntType(8)
        cgutils.raw_memcpy(builder, _ptr(builder, args[0], i8), _ptr(builder, args[1], i8), args[2], 1)
        return context.get_dummy_value()
    return types.void(types.uint64, types.uint64, types.uint64), codegen


@intrinsic
def _store_fence(typingctx):
    """Orders streaming stores before the caller returns (a no-op without them)."""
    def codegen(context, builder, sig, args):
        if NONTEMPORAL:
            builder.fence("seq_cst")
        return context.get_dummy_value()
    return types.void(), codegen


@njit(cache=True, nogil=True)
def _put_row(dst, lo_lim, hi_lim, src, n, pend):
    """Copy ``n`` bytes from address ``src`` to address ``dst`` in aligned BLOCK stores.

    Rows arrive in address order: the block that straddles two rows is gathered in
    ``pend`` (2 BLOCK bytes) and stored once complete. Bytes of a block not wholly
    inside ``[lo_lim, hi_lim)`` (the caller's range) get plain stores. ``src`` must be
    readable for BLOCK bytes past ``n``.
    """
    bs = np.uint64(BLOCK)
    o = dst % bs
    h = np.uint64(0)
    if o != 0:
        h = min(bs - o, n)
        blk = dst - o
        if blk < lo_lim or blk + bs > hi_lim:
            _copy_bytes(dst, src, h)
        else:
            _copy_block(pend + o, src)
            if o + h == bs:
                _store_block(blk, pend)
    i = h
    while i + bs <= n:
        _store_block(dst + i, src + i)
        i += bs
    if i < n:
        q = dst + i
        if q + bs > hi_lim:
            _copy_bytes(q, src + i, n - i)
        else:
            _copy_block(pend, src + i)


# ---------------------------------------------------------------------------------------
# Gaussian tables

@njit(cache=True, nogil=True, inline="always")
def _dense(c: float, r: float, u: float, v: float, two_s2: float) -> float:
    # the published formula, evaluated exactly as written (float64 then float32)
    dx = c - u
    dy = r - v
    return float(np.float32(math.exp(-(dx * dx + dy * dy) / two_s2)))


@njit(cache=True, nogil=True)
def _window(c, half, n):
    """``[ceil(c - half), floor(c + half)]`` clipped to ``[0, n - 1]`` (empty: ``(0, -1)``)."""
    lo = max(0.0, math.ceil(c - half))
    hi = min(n - 1.0, math.floor(c + half))
    if hi < lo:
        return 0, -1
    return int(lo), int(hi)


@njit(cache=True, nogil=True)
def _column_table(ex, lo, hi, uv, draw, W, s, support):
    """Per point p: columns [lo[p], hi[p]] where it can be drawn and exp factors there."""
    two_s2 = 2.0 * s * s
    half = math.sqrt(support * two_s2)
    for p in range(3):
        lo[p] = 0
        hi[p] = -1
        if not draw[p]:
            continue
        u = uv[p, 0]
        lo[p], hi[p] = _window(u, half, W)
        for c in range(lo[p], hi[p] + 1):
            dx = c - u
            ex[p, c] = math.exp(-(dx * dx) / two_s2)


@njit(cache=True, nogil=True)
def _gauss_table(out, i0, i1, u, two_s2, scale):
    """``out[i] = float32(scale * exp(-(i - u)^2 / two_s2))`` for ``i`` in ``[i0, i1]``.

    ``exp`` starts every block of 32 entries; inside a block
    ``f(x + 1) = f(x) g(x)``, ``g(x + 1) = g(x) exp(-2 / two_s2)`` with
    ``g(x) = exp(-(2x + 1) / two_s2)``: at most 31 steps of a few float64 ulps each, and
    over a window (``|x| <= sqrt(U8_SUPPORT two_s2)``) the exp arguments' rounding is of
    the same order, so the float64 values are within a relative 1e-11 of the exact ones.
    """
    inv = 1.0 / two_s2
    q2 = math.exp(-2.0 * inv)
    i = i0
    while i <= i1:
        x = i - u
        f = scale * math.exp(-(x * x) * inv)
        g = math.exp(-(2.0 * x + 1.0) * inv)
        end = min(i1, i + 31)
        out[i] = np.float32(f)
        while i < end:
            f *= g
            g *= q2
            i += 1
            out[i] = np.float32(f)
        i += 1


# ---------------------------------------------------------------------------------------
# uint8

def _splat(builder, vty, x):
    """A vector of type ``vty`` with every lane ``x`` (an LLVM scalar value)."""
    lanes = ir.Constant(ir.VectorType(ir.IntType(32), vty.count), [0] * vty.count)
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.IntType(32)(0))
    return builder.shuffle_vector(v, v, lanes)


def _row_blocks(with_b):
    """Intrinsic drawing ``nblk`` blocks of SPAN columns of one uint8 row; see _span_rgb."""
    L = SPAN

    def typer(typingctx, rgb, ex0, ex1, ex2, y0, y1, y2, c0, nblk, thr, band, flm, fl):
        u64, f32, i64 = types.uint64, types.float32, types.int64
        return types.int64(u64, u64, u64, u64, f32, f32, f32, i64, i64, f32, f32, f32, i64), codegen

    def codegen(context, builder, sig, args):
        rgb, ex0, ex1, ex2, y0, y1, y2, c0, nblk, thr, band, flm, fl = args
        f32, i32, i8, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(8), ir.IntType(64)
        vf, vi = ir.VectorType(f32, L), ir.VectorType(i32, L)
        magic = ir.Constant(vf, [float(np.float32(MAGIC))] * L)
        absmask = ir.Constant(vi, [0x7FFFFFFF] * L)
        ys = [_splat(builder, vf, y) for y in (y0, y1, y2)]
        thr_v, flm_v = _splat(builder, vf, thr), _splat(builder, vf, flm)
        v64 = ir.VectorType(i8, 4 * L)
        flb = builder.trunc(fl, i8)
        tmpl = builder.select(ir.Constant(ir.VectorType(ir.IntType(1), 4 * L), [q % 3 == 2 for q in range(4 * L)]),
                              _splat(builder, v64, flb), ir.Constant(v64, [0] * (4 * L)))
        exs = (ex0, ex1, ex2)
        n_ch = 3 if with_b else 2
        # per lane max |z - rint z| (bit patterns: non-negative floats order as integers)
        # and, for B, min |z - thr|; allocas that LLVM keeps in registers
        acc = [cgutils.alloca_once_value(builder, ir.Constant(vi, [0] * L)) for _ in range(n_ch)]
        acc_b = cgutils.alloca_once_value(builder, ir.Constant(vi, [0x7F800000] * L))
        # pixel j of the block is bytes 3j..3j+2 of the row; channel p's byte is the low
        # byte of lane j of its <L x i32>, i.e. byte 4j (+3 big-endian) of its <4L x i8>
        # bitcast. A block is stored as 4L bytes: its 3L, then L bytes of the template
        # (R = G = 0, B = fl) over the next columns, which the next block or run
        # rewrites, or which are template already (a row is drawn left to right and is
        # template past the runs)
        i32v = lambda xs: ir.Constant(ir.VectorType(i32, len(xs)), xs)  # noqa: E731
        lo = 0 if sys.byteorder == "little" else 3
        rg_order = i32v([4 * (q // 3) + lo + 4 * L * (q % 3) if q % 3 < 2 and q < 3 * L else q
                         for q in range(4 * L)])
        b_order = i32v([4 * L + 4 * (q // 3) + lo if q % 3 == 2 and q < 3 * L else q for q in range(4 * L)])
        keep = [q < 3 * L and (with_b or q % 3 < 2) for q in range(4 * L)]
        from_tmpl = ir.Constant(ir.VectorType(ir.IntType(1), 4 * L), [not k for k in keep])
        with cgutils.for_range(builder, nblk) as loop:
            c = builder.add(c0, builder.mul(loop.index, i64(L)))
            ks = []
            for p in range(n_ch):
                x = builder.load(_ptr(builder, builder.add(exs[p], builder.mul(c, i64(4))), vf), align=4)
                z = builder.fmul(x, ys[p])
                t = builder.fadd(z, magic)
                d = builder.and_(builder.bitcast(builder.fsub(z, builder.fsub(t, magic)), vi), absmask)
                m = builder.load(acc[p])
                builder.store(builder.select(builder.icmp_signed(">", d, m), d, m), acc[p])
                if p == 2:
                    e = builder.and_(builder.bitcast(builder.fsub(z, thr_v), vi), absmask)
                    m = builder.load(acc_b)
                    builder.store(builder.select(builder.icmp_signed("<", e, m), e, m), acc_b)
                    t = builder.select(builder.fcmp_ordered(">", z, thr_v), t, flm_v)
                ks.append(builder.bitcast(t, v64))  # low byte of each lane = rint(z)
            px = builder.shuffle_vector(ks[0], ks[1], rg_order)
            if with_b:
                px = builder.shuffle_vector(px, ks[2], b_order)
            px = builder.select(from_tmpl, tmpl, px)
            dst = builder.add(rgb, builder.mul(c, i64(3)))
            builder.store(px, _ptr(builder, dst, v64), align=1)

        def reduce(a, op):
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i32, [vi]),
                                                f"llvm.vector.reduce.{op}.v{L}i32")
            return builder.call(fn, [builder.load(a)])
        lim = i32(int(np.float32(0.5 - TIE_MARGIN).view(np.int32)))
        near = i64(0)
        for p in range(n_ch):
            bad = builder.icmp_signed(">", reduce(acc[p], "smax"), lim)
            if p == 2:
                bad = builder.or_(bad, builder.icmp_signed("<", reduce(acc_b, "smin"), builder.bitcast(band, i32)))
            near = builder.or_(near, builder.shl(builder.zext(bad, i64), i64(p)))
        return near
    return intrinsic(typer)


# _span_rgb(rgb, ex0, ex1, ex2, y0, y1, y2, c0, nblk, thr, band, flm, fl) -> near:
# R, G, B of columns [c0, c0 + SPAN nblk) of one uint8 row. ``rgb`` the address of the
# row's bytes (writable for 16 more columns), ``ex0..ex2`` the addresses of the float32
# column tables of P, N, U (0 outside each window, readable to the block end), ``y0..y2``
# the row factors (0 where a blob does not reach the row), ``thr`` the float32 floor
# threshold, ``band`` the closed-gripper band (0 when open), ``flm = MAGIC + fl``, ``fl``
# the floor byte. Bit p of ``near`` is set if a pixel of channel p is within TIE_MARGIN of
# a rounding boundary (or, for B, within ``band`` of the floor). Explicit SPAN-lane
# vectors (every target lowers them): the loop vectorizer left a row's short runs to a
# scalar remainder. _span_rg: the same for blocks outside the B disc (B = ``fl``).
_span_rgb = _row_blocks(True)
_span_rg = _row_blocks(False)


@njit(cache=True, nogil=True)
def _fix_row(rgb, p, ex, ey, ca, cb, r, u, v, two_s2, floor32, thr, band, fl):
    """Redo channel ``p`` of columns ``[ca, cb]`` of a row, dense where near a boundary."""
    magic = np.float32(MAGIC)
    lim = np.float32(0.5 - TIE_MARGIN)
    for c in range(ca, cb + 1):
        z = ex[p, c] * ey
        t = z + magic
        near = abs(z - (t - magic)) > lim
        if p == 2:
            near |= abs(z - thr) < band
        if near:
            x = _dense(float(c), float(r), u, v, two_s2)
            k = int(math.floor(255.0 * x + 0.5))
            if p == 2 and not x > floor32:
                k = fl
        else:
            k = _bits(t) & 255
            if p == 2 and not z > thr:
                k = fl
        rgb[3 * c + p] = k


@njit(cache=True, nogil=True, inline="always")
def _next_image(counters, order, end):
    """The next image this thread draws (``order[take_item(...)]``), or -1 when none is left."""
    i = take_item(counters, order.size, end)
    return order[i] if i >= 0 else -1


@njit(cache=True, nogil=True)
def render_u8(out, uv, draw, opened, order, s, floor, counters, end):
    """Draw the images of ``out (N, H, W*3) uint8`` (C-contiguous) that this thread takes.

    uv ``(N, 3, 2)``: Gaussian centres of P, N, U in the pixel grid; draw ``(N, 3)``;
    opened ``(N,)``; order ``(N,)`` the images in the order they are handed out;
    ``s`` sigma in pixels; ``floor`` the gripper floor value; ``counters`` and ``end``:
    :func:`actimg._parallel.run_from_both_ends`.
    """
    N, H, W3 = out.shape
    W = W3 // 3
    flat = out.reshape(N * H * W3)
    fa = _address(flat)
    ca = _address(counters)
    img_bytes = np.uint64(H * W3)
    W3u = np.uint64(W3)
    two_s2 = 2.0 * s * s
    floor32 = float(np.float32(floor))
    floor_u8 = int(math.floor(255.0 * floor32 + 0.5))
    thr = np.float32(255.0 * floor32)
    band_shut = np.float32(255.0 * floor32 * FLOOR_BAND)
    r2 = np.empty(3)  # squared support radius per channel; B: only pixels above the floor
    r2[0] = U8_SUPPORT * two_s2
    r2[1] = r2[0]
    b_thr = max(floor32, 1.0 / 510.0)
    r2[2] = math.log((1.0 + 1e-6) / b_thr) * two_s2 if b_thr < 1.0 else -1.0
    Wb = (W + SPAN - 1) // SPAN * SPAN  # rows are drawn in whole blocks; the tail is scratch
    ex = np.zeros((3, Wb), np.float32)
    exa = _address(ex)
    ex1 = exa + np.uint64(4 * Wb)
    ex2 = ex1 + np.uint64(4 * Wb)
    ey = np.zeros((3, H), np.float32)
    lo = np.zeros(3, np.int64)
    hi = np.full(3, -1, np.int64)
    r0 = np.zeros(3, np.int64)
    r1 = np.full(3, -1, np.int64)
    sa = np.zeros(3, np.int64)
    sb = np.full(3, -1, np.int64)
    yr = np.zeros(3, np.float32)
    tmpl = np.zeros((2, W3), np.uint8)  # [closed, open] background rows
    for c in range(W):
        tmpl[1, 3 * c + 2] = floor_u8
    rgb = np.zeros(3 * Wb + BLOCK, np.uint8)
    pend = np.zeros(2 * BLOCK, np.uint8)
    ra = _address(rgb)
    pa = _address(pend)
    while True:
        n = _next_image(ca, order, end)
        if n < 0:
            break
        # this image's bytes: a line it shares with a neighbour gets plain byte stores
        lo_lim = fa + np.uint64(n) * img_bytes
        hi_lim = lo_lim + img_bytes
        for p in range(3):
            for c in range(lo[p], hi[p] + 1):
                ex[p, c] = 0.0
            lo[p], hi[p] = 0, -1
            r0[p], r1[p] = 0, -1
            if draw[n, p] and r2[p] >= 0.0:
                half = math.sqrt(r2[p])
                c0, c1 = _window(uv[n, p, 0], half, W)
                q0, q1 = _window(uv[n, p, 1], half, H)
                if c0 <= c1 and q0 <= q1:
                    lo[p], hi[p] = c0, c1
                    r0[p], r1[p] = q0, q1
                    _gauss_table(ex[p], c0, c1, uv[n, p, 0], two_s2, 255.0)
                    _gauss_table(ey[p], q0, q1, uv[n, p, 1], two_s2, 1.0)
        op = opened[n]
        fl = floor_u8 if op else 0
        flm = np.float32(MAGIC + fl)
        band = np.float32(0.0) if op else band_shut
        t = 1 if op else 0
        for i in range(W3):
            rgb[i] = tmpl[t, i]
        da = Wb  # blocks [da, db) of rgb (in columns) that may differ from the template
        db = 0
        for r in range(H):
            a = W
            b = -1
            for p in range(3):
                yr[p] = 0.0
                sa[p], sb[p] = 0, -1
                if r < r0[p] or r > r1[p]:
                    continue
                yr[p] = ey[p, r]
                dy = r - uv[n, p, 1]
                h = math.sqrt(max(r2[p] - dy * dy, 0.0))
                u = uv[n, p, 0]
                sa[p] = max(lo[p], int(math.ceil(u - h)) - 1)
                sb[p] = min(hi[p], int(math.floor(u + h)) + 1)
                a = min(a, sa[p])
                b = max(b, sb[p])
            if a <= b:  # whole blocks over the spans (R, G, B drawn anywhere are exact)
                a = a // SPAN * SPAN
                b = (b + SPAN) // SPAN * SPAN
            else:
                a, b = Wb, 0
            # ... and over last row's blocks, to restore the template there
            a2 = min(a, da)
            b2 = max(b, db)
            if a2 < b2:
                y0, y1, y2 = yr[0], yr[1], yr[2]
                if sa[2] <= sb[2]:  # B computed only over its own (small) disc's blocks
                    ba = sa[2] // SPAN * SPAN
                    bb = (sb[2] + SPAN) // SPAN * SPAN
                    near = _span_rg(ra, exa, ex1, ex2, y0, y1, y2, a2, (ba - a2) // SPAN, thr, band, flm, fl)
                    near |= _span_rgb(ra, exa, ex1, ex2, y0, y1, y2, ba, (bb - ba) // SPAN, thr, band, flm, fl)
                    near |= _span_rg(ra, exa, ex1, ex2, y0, y1, y2, bb, (b2 - bb) // SPAN, thr, band, flm, fl)
                else:
                    near = _span_rg(ra, exa, ex1, ex2, y0, y1, y2, a2, (b2 - a2) // SPAN, thr, band, flm, fl)
                if near:
                    for p in range(3):
                        if (near >> p) & 1 and sa[p] <= sb[p]:
                            _fix_row(rgb, p, ex, yr[p], sa[p], sb[p], r, uv[n, p, 0], uv[n, p, 1],
                                     two_s2, floor32, thr, band, fl)
            da = a
            db = b
            _put_row(fa + np.uint64((n * H + r) * W3), lo_lim, hi_lim, ra, W3u, pa)
    _store_fence()


# ---------------------------------------------------------------------------------------
# float32

@njit(cache=True, nogil=True)
def render_f32(out, uv, draw, opened, order, s, floor, counters, end):
    """Float32 twin of :func:`render_u8` writing values in [0, 1] into ``out (N, H, W*3)``."""
    N, H, W3 = out.shape
    W = W3 // 3
    two_s2 = 2.0 * s * s
    floor32 = np.float32(floor)
    r2 = F32_SUPPORT * two_s2
    ex = np.empty((3, W))
    lo = np.empty(3, np.int64)
    hi = np.empty(3, np.int64)
    ca = _address(counters)
    while True:
        n = _next_image(ca, order, end)
        if n < 0:
            break
        _column_table(ex, lo, hi, uv[n], draw[n], W, s, F32_SUPPORT)
        fl = floor32 if opened[n] else np.float32(0.0)
        img = out[n]
        for r in range(H):
            row = img[r]
            for c in range(W):
                row[3 * c] = 0.0
                row[3 * c + 1] = 0.0
                row[3 * c + 2] = fl
            for p in range(3):
                if hi[p] < lo[p]:
                    continue
                u = uv[n, p, 0]
                v = uv[n, p, 1]
                dy = r - v
                d2 = dy * dy
                if d2 > r2:
                    continue
                ey = math.exp(-d2 / two_s2)
                for c in range(lo[p], hi[p] + 1):
                    g = ex[p, c] * ey
                    if p < 2:
                        row[3 * c + p] = g
                    elif g > floor32 * (1.0 + FLOOR_REL_MARGIN):
                        row[3 * c + 2] = g
                    elif g >= floor32 * (1.0 - FLOOR_REL_MARGIN):
                        x = np.float32(_dense(c, r, u, v, two_s2))
                        if x > floor32:
                            row[3 * c + 2] = x


# ---------------------------------------------------------------------------------------
# actions -> pixels

@njit(cache=True, nogil=True, error_model="numpy")
def project_actions_many(actions, code, model, Ks, W2Cs, pix, depth):
    """Pixels of the P, N, U points of every action in every view.

    actions ``(T, 7)``, code the Euler sequence (``_rotation_kernels.euler_code``),
    model ``(3, 3)`` tool-frame points (metres), cameras ``(T, V, ...)`` (``K`` and
    ``world2cam``). Writes pix ``(V, T, 3, 2)`` (u, v; the pinhole formula, a point at
    depth 0 gives inf/NaN) and depth ``(V, T, 3)`` (camera-frame z, metres).
    """
    T = actions.shape[0]
    V = Ks.shape[1]
    R = np.empty((3, 3))
    X = np.empty(3)
    ang = np.empty(3)
    for t in range(T):
        for i in range(3):
            ang[i] = actions[t, 3 + i]
        matrix_of_euler(ang, code, R)
        for p in range(3):
            for i in range(3):
                X[i] = actions[t, i] + R[i, 0] * model[p, 0] + R[i, 1] * model[p, 1] + R[i, 2] * model[p, 2]
            for v in range(V):
                pix[v, t, p, 0], pix[v, t, p, 1], depth[v, t, p] = _project(Ks[t, v], W2Cs[t, v], X)


@njit(cache=True, nogil=True, error_model="numpy")
def encode_inputs(actions, code, model, Ks, W2Cs, offset, skip, threshold, uv, draw, opened, order):
    """Everything :func:`render_u8` / :func:`render_f32` take, in one pass.

    Projects as :func:`project_actions_many` into ``uv (V, T, 3, 2)`` and then moves the
    centres into the pixel grid (``- offset``); ``draw (V, T, 3)``: in front of the camera
    (``skip``) or not at depth 0 (mirror), and finite; ``opened (V, T)``: openness above
    ``threshold``; ``order (V T,)``: the images (``v T + t``), those with the gripper open
    first (see ``_parallel.run_from_both_ends``). Returns the first frame whose three
    points are at depth <= 0 in every view, or -1.
    """
    T = actions.shape[0]
    V = Ks.shape[1]
    depth = np.empty((V, T, 3))
    project_actions_many(actions, code, model, Ks, W2Cs, uv, depth)
    first = -1
    for t in range(T):
        behind = True
        op = actions[t, 6] > threshold
        for v in range(V):
            opened[v, t] = op
            for p in range(3):
                d = depth[v, t, p]
                behind &= d <= 0.0
                ok = (d > 0.0 if skip else d != 0.0) and math.isfinite(uv[v, t, p, 0]) and math.isfinite(uv[v, t, p, 1])
                draw[v, t, p] = ok
                for i in range(2):
                    uv[v, t, p, i] = (uv[v, t, p, i] if ok else 0.0) - offset
        if behind and first < 0:
            first = t
    k = 0
    for want in (True, False):
        for v in range(V):
            for t in range(T):
                if opened[v, t] == want:
                    order[k] = v * T + t
                    k += 1
    return first
