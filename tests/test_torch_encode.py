"""actimg.torch.encode against the numpy encoder, and its error paths."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import actimg  # noqa: E402
import actimg.torch as at  # noqa: E402
from actimg import ActionImageSpec, CameraRig  # noqa: E402
from actimg.codec.encoder import BlankImagesWarning  # noqa: E402
from actimg.testing import WORKSPACE_CENTER, image_sizes, reachable_actions, rigs  # noqa: E402

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="CUDA not available"))]
SIZES = image_sizes(32, 128)


@st.composite
def specs(draw):
    """Every option of the format that changes pixels."""
    axes = draw(st.sampled_from([((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)), ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0)),
                                 ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0))]))
    return ActionImageSpec(sigma_fraction=draw(st.sampled_from([0.05, 0.03, 0.08])),
                           axis_length=draw(st.sampled_from([0.1, 0.06])),
                           normal_axis=axes[0], up_axis=axes[1],
                           gripper_floor=draw(st.sampled_from([0.25, 0.1, 0.0])),
                           gripper_threshold=draw(st.sampled_from([0.5, 0.3])),
                           euler=draw(st.sampled_from(["xyz", "XYZ", "zyx", "ZXY"])),
                           pixel_origin=draw(st.sampled_from(["integer", "half"])),
                           behind_camera=draw(st.sampled_from(["skip", "mirror"])))


@st.composite
def cases(draw):
    """(rig, actions (B, T, 7), spec): B = 2 action sequences seen by one rig; points near
    the workspace centre, far outside the image, or next to a camera (partly behind it)."""
    spec = draw(specs())
    T = draw(st.integers(1, 3))
    rig = draw(rigs(n_views=st.integers(1, 3), sizes=SIZES, per_frame=st.booleans(), n_frames=T))
    _, E = rig.broadcast(T)
    batch = []
    for _ in range(2):
        actions = draw(reachable_actions(n_frames=T, spec=spec))
        for t in range(T):
            mode = draw(st.sampled_from(["inside", "inside", "wild", "camera"]))
            if mode == "wild":
                actions[t, :3] = np.asarray(WORKSPACE_CENTER) + [draw(st.floats(-0.9, 0.9)) for _ in range(3)]
            elif mode == "camera":
                k = draw(st.integers(0, rig.n_views - 1))
                dz = draw(st.floats(0.001, 0.12)) * draw(st.sampled_from([-1.0, 1.0]))
                local = np.array([draw(st.floats(-0.15, 0.15)), draw(st.floats(-0.15, 0.15)), dz])
                actions[t, :3] = E[k, t, :3, 3] + E[k, t, :3, :3] @ local
        batch.append(actions)
    return rig, np.stack(batch), spec


def numpy_encode(actions: np.ndarray, rig: CameraRig, spec: ActionImageSpec) -> np.ndarray | None:
    """``(B, V, T, H, W, 3)`` float32 from actimg.encode, or None where numpy refuses a frame."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BlankImagesWarning)  # wild points: blank images are fine here
            return np.stack([actimg.encode(a, rig, spec, dtype=np.float32) for a in actions])
    except ValueError as exc:
        assert "behind every camera" in str(exc)
        return None


def tensors(rig: CameraRig, B: int, device: str, dtype=torch.float64):
    K = torch.as_tensor(np.array(rig.intrinsics), dtype=dtype, device=device)
    E = torch.as_tensor(np.array(rig.extrinsics), dtype=dtype, device=device)
    return K.expand(B, *K.shape).contiguous(), E.expand(B, *E.shape).contiguous()


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=25, deadline=None)
@given(case=cases())
def test_encode_equals_numpy(device, case):
    rig, actions, spec = case
    B = actions.shape[0]
    K, E = tensors(rig, B, device)
    a = torch.as_tensor(actions, device=device)
    want = numpy_encode(actions, rig, spec)
    if want is None:
        with pytest.raises(ValueError, match="behind every camera"):
            at.encode(a, K, E, rig.height, rig.width, spec)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BlankImagesWarning)
        got = at.encode(a, K, E, rig.height, rig.width, spec)
    assert got.shape == want.shape and got.dtype == torch.float32 and got.device.type == device
    err = np.abs(got.cpu().numpy().astype(np.float64) - want)
    assert err.max() <= 1e-6, f"max abs error {err.max():.3g} at {np.unravel_index(err.argmax(), err.shape)}"


@pytest.mark.parametrize("device", DEVICES)
def test_encode_float32_inputs_and_per_frame_intrinsics_only(device):
    """float32 tensors are read as their float64 values; K per frame with static E."""
    rig, actions = actimg.default_scene(n_frames=3, height=64, width=64)
    K = np.repeat(np.array(rig.intrinsics)[:, None], 3, axis=1)
    K[:, 1, 0, 0] *= 1.01
    E32 = np.array(rig.extrinsics, dtype=np.float32)
    a32 = np.asarray(actions, dtype=np.float32)
    rig2 = CameraRig(K, E32.astype(np.float64), 64, 64)
    want = actimg.encode(a32.astype(np.float64), rig2, dtype=np.float32)
    got = at.encode(torch.as_tensor(a32, device=device)[None], torch.as_tensor(K, device=device)[None],
                    torch.as_tensor(E32, device=device)[None], 64, 64)
    assert np.abs(got[0].cpu().numpy() - want).max() <= 1e-6


@pytest.mark.parametrize("device", DEVICES)
def test_project_actions_equals_numpy(device):
    rig, actions = actimg.default_scene(n_frames=4, height=96, width=128)
    pix, depth = actimg.project_actions(actions, rig)
    K, E = tensors(rig, 1, device)
    tp, td = at.project_actions(torch.as_tensor(actions, device=device)[None], K, E)
    np.testing.assert_allclose(tp[0].cpu().numpy(), pix, atol=1e-9)
    np.testing.assert_allclose(td[0].cpu().numpy(), depth, atol=1e-12)


def test_floor_band_decided_as_numpy():
    """A closed gripper whose U blob has a pixel at exactly the floor radius (its value is
    the floor to float rounding): torch keeps or zeroes it as numpy's dense formula does."""
    rig, actions = actimg.default_scene(n_views=2, n_frames=1, height=64, width=64)
    actions = actions.copy()
    actions[:, 6] = 0.0
    s = actimg.codec.spec.PAPER.sigma_px(64, 64)
    pix, _ = actimg.project_actions(actions, rig)
    radius = np.sqrt(2.0 * s * s * np.log(1.0 / 0.25))  # G = 0.25 there
    checked = 0
    for target_u in (32.0 + radius, 31.0 - radius, 30.0 + radius * np.float32(1.0)):
        K = np.array(rig.intrinsics)
        K[0, 0, 2] += target_u - pix[0, 0, 2, 0]  # U of view 0 projects to (target_u, 20)
        K[0, 1, 2] += 20.0 - pix[0, 0, 2, 1]
        rig2 = CameraRig(K, rig.extrinsics, 64, 64)
        want = actimg.encode(actions, rig2, dtype=np.float32)
        Kt, Et = tensors(rig2, 1, "cpu")
        got = at.encode(torch.as_tensor(actions)[None], Kt, Et, 64, 64)[0].numpy()
        assert np.abs(got - want).max() <= 1e-6
        checked += 1
    assert checked == 3


# ------------------------------------------------------------------------------ errors
def _good(device="cpu"):
    rig, actions = actimg.default_scene(n_frames=2, height=32, width=32)
    K, E = tensors(rig, 1, device)
    return torch.as_tensor(actions, device=device)[None], K, E


def test_encode_error_types():
    a, K, E = _good()
    with pytest.raises(TypeError, match="actions must be a torch.Tensor"):
        at.encode(a.numpy(), K, E, 32, 32)
    with pytest.raises(TypeError, match="floating-point"):
        at.encode(a.to(torch.int64), K, E, 32, 32)
    with pytest.raises(TypeError, match="intrinsics must be a torch.Tensor"):
        at.encode(a, K.numpy(), E, 32, 32)
    with pytest.raises(TypeError, match="spec must be"):
        at.encode(a, K, E, 32, 32, spec=0.05)
    with pytest.raises(ValueError, match="unknown spec name"):
        at.encode(a, K, E, 32, 32, spec="no-such-format")
    assert torch.equal(at.encode(a, K, E, 32, 32, spec="paper"), at.encode(a, K, E, 32, 32))
    with pytest.raises(ValueError, match="float32 format only"):
        at.encode(a, K, E, 32, 32, spec=ActionImageSpec(precision="bfloat16"))


def test_encode_error_shapes():
    a, K, E = _good()
    with pytest.raises(ValueError, match=r"actions must have shape \(B, T, 7\)"):
        at.encode(a[0], K, E, 32, 32)
    with pytest.raises(ValueError, match=r"actions must have shape \(B, T, 7\)"):
        at.encode(a[..., :6], K, E, 32, 32)
    with pytest.raises(ValueError, match="intrinsics must have shape"):
        at.encode(a, K[..., :2], E, 32, 32)
    with pytest.raises(ValueError, match="extrinsics must have shape"):
        at.encode(a, K, E[..., :3, :], 32, 32)
    with pytest.raises(ValueError, match="batch size"):
        at.encode(torch.cat([a, a]), K, E, 32, 32)
    with pytest.raises(ValueError, match=r"\(B, V\)"):
        at.encode(a, K, E[:, :1], 32, 32)
    Kt = K[:, :, None].expand(-1, -1, 3, -1, -1)
    with pytest.raises(ValueError, match="per-frame cameras have T=3"):
        at.encode(a, Kt, E, 32, 32)
    Et = E[:, :, None].expand(-1, -1, 2, -1, -1)
    with pytest.raises(ValueError, match="per-frame intrinsics has T=3 frames but extrinsics has T=2"):
        at.encode(a, Kt, Et, 32, 32)
    with pytest.raises(ValueError, match="empty"):
        at.encode(a[:, :0], K, E, 32, 32)
    for h in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="height must be a positive integer"):
            at.encode(a, K, E, h, 32)


def test_encode_error_values():
    a, K, E = _good()
    bad = a.clone()
    bad[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="actions must be finite"):
        at.encode(bad, K, E, 32, 32)
    Kb = K.clone()
    Kb[0, 1, 1, 0] = 0.5
    with pytest.raises(ValueError, match="batch 0, view 1 is not a pinhole K"):
        at.encode(a, Kb, E, 32, 32)
    Kb = K.clone()
    Kb[0, 0, 0, 0] = -Kb[0, 0, 0, 0]
    with pytest.raises(ValueError, match="fx = .* <= 0"):
        at.encode(a, Kb, E, 32, 32)
    Eb = E.clone()
    Eb[0, 1, 3, 0] = 0.1
    with pytest.raises(ValueError, match="last row"):
        at.encode(a, K, Eb, 32, 32)
    Eb = E.clone()
    Eb[0, 0, :3, :3] *= 1.1  # scaled: not rigid
    with pytest.raises(ValueError, match="not a rotation"):
        at.encode(a, K, Eb, 32, 32)
    Eb = E.clone()
    Eb[0, 0, :3, 0] *= -1.0  # reflection
    with pytest.raises(ValueError, match="reflection"):
        at.encode(a, K, Eb, 32, 32)
    # OpenGL axes (camera looks along -z): every point behind every camera
    gl = E @ torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=E.dtype))
    with pytest.raises(ValueError, match="behind every camera"):
        at.encode(a, K, gl, 32, 32)
    # validate=False skips the value checks (no device sync) but not the shape checks
    out = at.encode(a, K, gl, 32, 32, validate=False)
    assert out.shape == (1, E.shape[1], 2, 32, 32, 3)
    assert float(out[..., :2].max()) == 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_encode_error_devices():
    a, K, E = _good()
    with pytest.raises(ValueError, match="same device"):
        at.encode(a.cuda(), K, E, 32, 32)
    with pytest.raises(ValueError, match="same device"):
        at.encode(a, K.cuda(), E, 32, 32)


def test_import_error_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import actimg.torch\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "actimg[torch]"' in out.stdout


def test_encode_warns_when_every_image_is_blank():
    """As actimg.encode: points in front of the cameras but far outside every image."""
    rig, actions = actimg.default_scene(n_views=1, n_frames=2, height=32, width=32)
    far = actions.copy()
    far[:, :3] += 5.0 * np.array(rig.extrinsics)[0, :3, 0]  # 5 m along the camera's x axis
    K, E = tensors(rig, 1, "cpu")
    with pytest.warns(BlankImagesWarning):
        actimg.encode(far, rig, dtype=np.float32)
    with pytest.warns(BlankImagesWarning):
        out = at.encode(torch.as_tensor(far)[None], K, E, 32, 32)
    assert float(out[..., :2].max()) < 1e-3
