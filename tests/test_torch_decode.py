"""actimg.torch.decode: accuracy on clean images, gradients, error paths."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import actimg  # noqa: E402
import actimg.torch as at  # noqa: E402
from actimg import ActionImageSpec, CameraRig  # noqa: E402
from actimg.geometry.rotations import euler_to_matrix, rotation_angle_deg  # noqa: E402
from actimg.testing import image_sizes, scenes  # noqa: E402

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="CUDA not available"))]
SPECS = [actimg.codec.spec.PAPER,
         ActionImageSpec(pixel_origin="half", sigma_fraction=0.07, euler="ZYX"),
         ActionImageSpec(normal_axis=(0.0, 1.0, 0.0), up_axis=(1.0, 0.0, 0.0), axis_length=0.08,
                         gripper_floor=0.15)]


def _cams(rig: CameraRig, device: str, dtype=torch.float64):
    K = torch.as_tensor(np.array(rig.intrinsics), dtype=dtype, device=device)
    E = torch.as_tensor(np.array(rig.extrinsics), dtype=dtype, device=device)
    return K[None], E[None]


@st.composite
def clean_cases(draw):
    spec = draw(st.sampled_from(SPECS))
    rig, actions = draw(scenes(n_views=st.integers(2, 3), sizes=image_sizes(48, 128), n_frames=st.integers(1, 3),
                               spec=spec))
    return rig, actions, spec


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@settings(max_examples=12, deadline=None)
@given(case=clean_cases())
def test_decode_clean_images(device, dtype, case):
    """Clean float32 images from actimg.encode decode to micrometres, roll included."""
    rig, actions, spec = case
    images = actimg.encode(actions, rig, spec, dtype=np.float32)
    K, E = _cams(rig, device)
    res = at.decode(torch.as_tensor(images, device=device, dtype=dtype)[None], K, E, spec)
    T = actions.shape[0]
    assert res.positions.shape == (1, T, 3) and res.rotations.shape == (1, T, 3, 3)
    assert res.openness.shape == (1, T) and res.positions.dtype == dtype and res.positions.device.type == device
    assert bool(res.valid.all())
    pos_err = np.linalg.norm(res.positions[0].double().cpu().numpy() - actions[:, :3], axis=-1)
    assert pos_err.max() < 5e-5, pos_err  # 50 micrometres (measured: median 7e-9 m, max 3e-6 m)
    R = euler_to_matrix(actions[:, 3:6], spec.euler)
    rot_err = np.atleast_1d(rotation_angle_deg(R, res.rotations[0].double().cpu().numpy()))
    assert rot_err.max() < 0.05, rot_err  # degrees (measured: max 0.0023)
    want_open = (actions[:, 6] > spec.gripper_threshold).astype(float)
    np.testing.assert_allclose(res.openness[0].double().cpu().numpy(), want_open, atol=1e-6)
    pix, _ = actimg.project_actions(actions, rig, spec)
    seen = res.weights[0].cpu().numpy() > 0.05
    err_px = np.linalg.norm(res.pixels[0].double().cpu().numpy() - pix, axis=-1)
    assert err_px[seen].max() < 1e-3


def test_decode_batch_and_per_frame_cameras():
    """B > 1 with per-frame cameras: each sample decodes as on its own."""
    rig, actions = actimg.default_scene(n_views=2, n_frames=3, height=64, width=64)
    E = np.repeat(np.array(rig.extrinsics)[:, None], 3, axis=1)
    E[:, 1, :3, 3] += 0.01
    rig_t = CameraRig(rig.intrinsics, E, 64, 64)
    a2 = actions[::-1].copy()
    imgs = np.stack([actimg.encode(actions, rig_t, dtype=np.float32), actimg.encode(a2, rig_t, dtype=np.float32)])
    K = torch.as_tensor(np.array(rig.intrinsics))[None].expand(2, -1, -1, -1)
    Et = torch.as_tensor(E)[None].expand(2, -1, -1, -1, -1)
    res = at.decode(torch.as_tensor(imgs), K, Et)
    want = np.stack([actions[:, :3], a2[:, :3]])
    assert np.abs(res.positions.numpy() - want).max() < 5e-5


def _small_case(open_: bool, seed: int = 0):
    """2 views, 1 frame, 32x32, float64 images with a little noise (no ties, no kinks)."""
    rig, actions = actimg.default_scene(n_views=2, n_frames=1, height=32, width=32)
    actions = actions.copy()
    actions[:, 6] = 1.0 if open_ else 0.0
    img = actimg.encode(actions, rig, dtype=np.float32).astype(np.float64)
    rng = np.random.default_rng(seed)
    img = img + rng.uniform(-0.004, 0.004, img.shape) + (-0.006 if open_ else 0.006)
    K, E = _cams(rig, "cpu")
    return torch.tensor(img[None], requires_grad=True), K, E, actions


@pytest.mark.parametrize("open_", [False, True])
def test_decode_gradcheck_images(open_):
    images, K, E, _ = _small_case(open_)

    def f(x):
        r = at.decode(x, K, E, validate=False)
        return r.positions, r.rotations, r.openness

    assert torch.autograd.gradcheck(f, (images,), eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True)


def test_decode_gradcheck_cameras():
    images, K, E, _ = _small_case(False)
    images = images.detach()

    def f(k, t):
        E2 = E.clone()
        E2[..., :3, 3] = t
        r = at.decode(images, k, E2, validate=False)
        return r.positions, r.rotations

    k = K.clone().requires_grad_(True)
    t = E[..., :3, 3].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (k, t), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_decode_gradient_moves_towards_target():
    """A step against the gradient of |P - target|^2 on the image moves P towards target."""
    images, K, E, actions = _small_case(True)
    target = torch.as_tensor(actions[0, :3]) + torch.tensor([0.01, -0.01, 0.0], dtype=torch.float64)
    loss = (at.decode(images, K, E).positions[0, 0] - target).square().sum()
    loss.backward()
    with torch.no_grad():
        stepped = images - 1e-3 * images.grad / images.grad.abs().max()
        loss2 = (at.decode(stepped, K, E).positions[0, 0] - target).square().sum()
    assert float(loss2) < float(loss.detach())


def test_decode_unseen_point_is_not_valid():
    rig, actions = actimg.default_scene(n_views=2, n_frames=2, height=48, width=48)
    img = actimg.encode(actions, rig, dtype=np.float32)
    img[1, 1, ..., 0] = 0.0  # P of frame 1 erased from view 1: one view left
    K, E = _cams(rig, "cpu")
    x = torch.as_tensor(img, dtype=torch.float64)[None].requires_grad_(True)
    res = at.decode(x, K, E)
    assert res.valid.tolist() == [[True, False]]
    assert float(res.weights[0, 1, 1, 0].detach()) < 1e-9
    (res.positions.sum() + res.rotations.sum() + res.openness.sum()).backward()
    assert bool(torch.isfinite(x.grad).all())  # an empty channel gives no NaN gradient


def test_decode_blob_outside_one_view():
    """U far above view 0 (its B plane is the flat floor): that view gets no weight for U,
    the other views triangulate it exactly (a regression: the model-reweighted pass once
    trusted the empty first fit)."""
    f = 65.93945807
    K = np.array([[[f, 0, 23.5], [0, f, 23.5], [0, 0, 1]]] * 3)
    eyes = np.array([[1.125, 0.0, 0.2], [1.0, 0.8660254, 0.2], [1.5, 0.0, 0.2]])
    E = actimg.look_at(eyes, np.array([[0.5, 0.0, 0.2]] * 3))
    rig = CameraRig(K, E, 48, 48)
    actions = np.array([[0.5, 0.0, 0.4227422, np.pi, 0.0, np.pi, 1.0]])
    pix, _ = actimg.project_actions(actions, rig)
    img = actimg.encode(actions, rig, dtype=np.float32)
    assert pix[:, 0, 2, 1].min() < -4 * 2.4  # U more than 4 sigmas above the top of some view
    Kt, Et = _cams(rig, "cpu")
    res = at.decode(torch.as_tensor(img)[None], Kt, Et)
    v = int(np.argmin(pix[:, 0, 2, 1]))
    assert float(res.weights[0, v, 0, 2]) < 1e-6
    err = (res.points[0, 0].double() - torch.as_tensor(actimg.action_points(actions)[0])).norm(dim=-1)
    assert float(err.max()) < 1e-6


# ------------------------------------------------------------------------------ errors
def test_decode_errors():
    rig, actions = actimg.default_scene(n_views=2, n_frames=2, height=32, width=32)
    img = torch.as_tensor(actimg.encode(actions, rig, dtype=np.float32))[None]
    K, E = _cams(rig, "cpu")
    with pytest.raises(TypeError, match="images must be a torch.Tensor"):
        at.decode(img.numpy(), K, E)
    with pytest.raises(TypeError, match="floating-point"):
        at.decode((img * 255).to(torch.uint8), K, E)
    with pytest.raises(ValueError, match=r"images must have shape \(B, V, T, H, W, 3\)"):
        at.decode(img[0], K, E)
    with pytest.raises(ValueError, match=r"images must have shape"):
        at.decode(img[..., :2], K, E)
    with pytest.raises(ValueError, match="V=1 views"):
        at.decode(img, K[:, :1], E[:, :1])
    with pytest.raises(ValueError, match="batch size B=2"):
        at.decode(img, K.expand(2, -1, -1, -1), E.expand(2, -1, -1, -1))
    Kt = K[:, :, None].expand(-1, -1, 3, -1, -1)
    with pytest.raises(ValueError, match="per-frame cameras have T=3"):
        at.decode(img, Kt, E)
    with pytest.raises(ValueError, match=r"max is 25\d"):
        at.decode(img * 255, K, E)
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        at.decode(img * 2 - 1, K, E)
    bad = img.clone()
    bad[0, 0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="images must be finite"):
        at.decode(bad, K, E)
    Eb = E.clone()
    Eb[0, 0, :3, :3] *= 0.5
    with pytest.raises(ValueError, match="not a rotation"):
        at.decode(img, K, Eb)
    with pytest.raises(ValueError, match="window"):
        at.decode(img, K, E, window=0.5)
    with pytest.raises(ValueError, match="threshold"):
        at.decode(img, K, E, threshold=0.0)
    with pytest.raises(TypeError, match="spec must be"):
        at.decode(img, K, E, spec={"sigma_fraction": 0.05})
