"""actimg.torch.plucker_rays against actimg.cameras.plucker_rays, and its error paths."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import actimg  # noqa: E402
import actimg.torch as at  # noqa: E402
from actimg import CameraRig  # noqa: E402
from actimg.testing import image_sizes, rigs  # noqa: E402

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="CUDA not available"))]


def _batch(rig: CameraRig, device: str, dtype=torch.float64):
    K = torch.as_tensor(np.array(rig.intrinsics), dtype=dtype, device=device)
    E = torch.as_tensor(np.array(rig.extrinsics), dtype=dtype, device=device)
    return K[None], E[None]


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=20, deadline=None)
@given(rig=rigs(n_views=st.integers(1, 3), sizes=image_sizes(8, 40), per_frame=st.booleans(),
                n_frames=st.integers(1, 3)),
       pixel_center=st.sampled_from(["half", "integer"]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_plucker_equals_numpy(device, rig, pixel_center, dtype):
    want = actimg.cameras.plucker_rays(rig, pixel_center, dtype=dtype)
    K, E = _batch(rig, device)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    got = at.plucker_rays(K, E, rig.height, rig.width, pixel_center, dtype=tdt)
    assert got.shape == (1,) + want.shape and got.dtype == tdt and got.device.type == device
    tol = 1e-7 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[0].cpu().numpy(), want, rtol=0, atol=tol)


@pytest.mark.parametrize("device", DEVICES)
def test_plucker_per_frame_intrinsics_static_extrinsics_and_batch(device):
    rig = actimg.default_scene(n_views=2, n_frames=1, height=24, width=20)[0]
    K = np.repeat(np.array(rig.intrinsics)[:, None], 3, axis=1)
    K[:, :, 0, 0] *= np.array([1.0, 1.01, 0.98])
    rig_t = CameraRig(K, rig.extrinsics, 24, 20)
    want = actimg.cameras.plucker_rays(rig_t)
    static = actimg.cameras.plucker_rays(rig)
    Kt = torch.as_tensor(np.stack([K, K]), device=device)
    Et = torch.as_tensor(np.stack([rig.extrinsics, rig.extrinsics]), device=device)
    got = at.plucker_rays(Kt, Et, 24, 20)
    assert got.shape == (2, 2, 3, 24, 20, 6)
    for b in range(2):
        np.testing.assert_allclose(got[b].cpu().numpy(), want, atol=1e-7, rtol=0)
    got_s = at.plucker_rays(Kt[:, :, 0], Et, 24, 20)
    assert got_s.shape == (2, 2, 24, 20, 6)
    np.testing.assert_allclose(got_s[1].cpu().numpy(), static, atol=1e-7, rtol=0)


def test_plucker_chunks_and_gradients():
    """Many cameras go through several chunks; gradients reach K and the extrinsics."""
    from actimg.torch import plucker as mod

    rig = actimg.default_scene(n_views=3, n_frames=1, height=16, width=16)[0]
    K, E = _batch(rig, "cpu")
    old = mod._CHUNK_BYTES
    try:
        mod._CHUNK_BYTES = 16 * 16 * 6 * 8  # one camera per chunk
        chunked = at.plucker_rays(K, E, 16, 16, dtype=torch.float64)
        K.requires_grad_(True)
        g = at.plucker_rays(K, E, 16, 16, dtype=torch.float64)
        g[..., :3].sum().backward()
    finally:
        mod._CHUNK_BYTES = old
    np.testing.assert_allclose(chunked[0].numpy(), actimg.cameras.plucker_rays(rig, dtype=np.float64), atol=1e-12)
    assert K.grad is not None and torch.isfinite(K.grad).all() and K.grad[..., 0, 2].abs().sum() > 0


def test_plucker_errors():
    rig = actimg.default_scene(n_views=2, n_frames=1, height=16, width=16)[0]
    K, E = _batch(rig, "cpu")
    with pytest.raises(ValueError, match="pixel_center must be one of"):
        at.plucker_rays(K, E, 16, 16, pixel_center="corner")
    with pytest.raises(TypeError, match="dtype must be a floating torch dtype"):
        at.plucker_rays(K, E, 16, 16, dtype=torch.int32)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        at.plucker_rays(K, E, 16, 0)
    with pytest.raises(TypeError, match="extrinsics must be a torch.Tensor"):
        at.plucker_rays(K, np.array(rig.extrinsics)[None], 16, 16)
    with pytest.raises(ValueError, match="intrinsics must have shape"):
        at.plucker_rays(K[0], E, 16, 16)
    Eb = E.clone()
    Eb[0, 1, :3, :3] = Eb[0, 1, :3, :3].T @ torch.diag(torch.tensor([1.0, 1.0, 2.0], dtype=E.dtype))
    with pytest.raises(ValueError, match="batch 0, view 1 has a rotation block that is not a rotation"):
        at.plucker_rays(K, Eb, 16, 16)
