"""Train a tiny action-image model on CPU and run it in closed loop; compare with direct regression.

The smallest honest test that the representation works. In the MuJoCo reach task of
``actimg.policy.sim`` (gripper to a green ball, three cameras), with scripted-expert data:

1. **action-image model**: a small conv encoder-decoder (U-Net) takes, per view, the current
   camera image and action frame 0 (the current pose drawn by ``actimg.encode``) and draws
   the next ``horizon`` action frames of that view; trained per pixel (weighted binary
   cross-entropy) against ``actimg.encode(expert_plan, rig) / 255`` (kept as uint8 in
   memory: the float32 targets rounded to 8 bits). At run time it sits behind the
   adapter protocol (``model(task)``), and ``actimg.policy.ActionImagePolicy`` decodes its
   drawings (multi-view triangulation) and executes them;
2. **regression baseline**: the same encoder (same widths, the same inputs per view, plus
   the current pose as a vector); per view, spatial-softmax keypoints of every encoder
   level, all views -> an MLP -> the ``horizon`` future 7-D actions (as offsets from the
   current pose); about the same number of parameters, the same data, optimiser and
   epochs; executed with the same chunking;
3. the **oracle** (the expert's plan drawn as action images) as a reference.

    python examples/train_tiny_policy.py                    # ~3 min of CPU time (1 thread)
    python examples/train_tiny_policy.py --episodes-train 40 --epochs 2 --eval-episodes 2   # smoke run

Prints a table and, as its last line, ``success_rate oracle=<x> action_image=<y> regression=<z>``.
Seeded: the same arguments give the same numbers on the same machine (torch CPU, 1 thread).
"""

from __future__ import annotations

import argparse
import os
import time
from collections import deque

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

import actimg  # noqa: E402
from actimg.policy import ActionImagePolicy  # noqa: E402
from actimg.policy.sim import ExpertOracle, SimEnv, run_episode  # noqa: E402

try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ModuleNotFoundError as exc:  # pragma: no cover
    raise SystemExit('this example needs torch (CPU is enough): pip install torch') from exc


# ---------------------------------------------------------------------- data
def collect(env: SimEnv, episodes: int, horizon: int, seed: int, noise_m: float) -> dict[str, np.ndarray]:
    """Expert episodes; the executed actions get Gaussian noise (``noise_m`` metres) so that
    states off the expert's path are seen too (the labels are always the expert's plan from
    the state actually reached)."""
    rng = np.random.default_rng(seed)
    obs_l, act0_l, tgt_l, pose_l, plan_l = [], [], [], [], []
    for e in range(episodes):
        env.reset(int(rng.integers(2**31)))
        for _ in range(env.max_steps):
            plan = np.concatenate([env.pose()[None], env.expert_plan(horizon)])  # (horizon + 1, 7)
            img = actimg.encode(plan, env.rig)  # (V, horizon + 1, H, W, 3) uint8
            obs_l.append(env.render())
            act0_l.append(img[:, 0])
            tgt_l.append(img[:, 1:])
            pose_l.append(plan[0])
            plan_l.append(plan[1:])
            a = plan[1].copy()
            a[:3] += rng.normal(0.0, noise_m, 3)
            if env.step(a):
                break
    return {"obs": np.stack(obs_l), "act0": np.stack(act0_l), "target": np.stack(tgt_l),
            "pose": np.stack(pose_l), "plan": np.stack(plan_l)}


def view_inputs(obs: np.ndarray, act0: np.ndarray) -> torch.Tensor:
    """``(N, V, H, W, 3)`` uint8 camera images and action frames 0 -> ``(N, V, 6 + V, H, W)``
    float: RGB, action RGB and a one-hot view channel block (the network knows which camera)."""
    N, V, H, W, _ = obs.shape
    x = np.concatenate([obs, act0], axis=-1).astype(np.float32) / 255.0  # (N, V, H, W, 6)
    x = torch.from_numpy(x).permute(0, 1, 4, 2, 3)
    onehot = torch.eye(V).view(1, V, V, 1, 1).expand(N, V, V, H, W)
    return torch.cat([x, onehot], dim=2)


# ---------------------------------------------------------------------- networks
WIDTHS = (32, 48, 64, 96)  # channels at 1/2, 1/4, 1/8, 1/16 of the image size
def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Encoder(nn.Module):
    def __init__(self, cin: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([block(cin if i == 0 else widths[i - 1], w, 2) for i, w in enumerate(widths)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return feats


class ActionImageNet(nn.Module):
    """Per view: (6 + V, H, W) -> (3 * horizon, H, W) logits of the future action frames.

    A U-Net whose decoder stops at half resolution: the logits are drawn at H/2 x W/2 and
    upsampled bilinearly (the format's blobs are smooth: sigma = 0.05 min(H, W) px).
    """

    def __init__(self, n_views: int, horizon: int, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        self.horizon = horizon
        self.enc = Encoder(6 + n_views, widths)
        self.up = nn.ModuleList([block(widths[i + 1] + widths[i], widths[i]) for i in range(len(widths) - 1)])
        self.head = nn.Conv2d(widths[0], 3 * horizon, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.enc(x)
        y = feats[-1]
        for i in range(len(feats) - 2, -1, -1):
            y = F.interpolate(y, size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            y = self.up[i](torch.cat([y, feats[i]], dim=1))
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)


def spatial_softmax(f: torch.Tensor) -> torch.Tensor:
    """``(N, C, h, w)`` -> ``(N, 2 C)``: per channel, the expected (x, y) in [-1, 1] under a
    softmax over the map (keypoints, as in visuomotor policies)."""
    N, C, h, w = f.shape
    p = torch.softmax(f.flatten(2), dim=-1).view(N, C, h, w)
    ys = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1)
    xs = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w)
    return torch.cat([(p * xs).sum(dim=(2, 3)), (p * ys).sum(dim=(2, 3))], dim=1)


class RegressionNet(nn.Module):
    """All views through the same encoder -> per view spatial-softmax keypoints of every
    level, + current pose -> MLP -> (horizon, 7) offsets from the current pose."""

    def __init__(self, n_views: int, horizon: int, widths: tuple[int, ...] = WIDTHS, hidden: int = 128) -> None:
        super().__init__()
        self.horizon = horizon
        self.enc = Encoder(6 + n_views, widths)
        feat = 2 * sum(widths)
        self.mlp = nn.Sequential(nn.Linear(n_views * feat + 7, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, horizon * 7))

    def forward(self, x: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        N, V = x.shape[:2]
        feats = self.enc(x.flatten(0, 1))
        per_view = torch.cat([spatial_softmax(f) for f in feats], dim=1)
        return self.mlp(torch.cat([per_view.view(N, -1), pose], dim=1)).view(N, self.horizon, 7)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------------- training
def train_action_image(data: dict, n_views: int, horizon: int, epochs: int, seed: int, batch: int = 16,
                       lr: float = 2e-3) -> ActionImageNet:
    torch.manual_seed(seed)
    net = ActionImageNet(n_views, horizon)
    x_all = view_inputs(data["obs"], data["act0"]).flatten(0, 1)  # (N V, C, H, W)
    tg = data["target"]  # (N, V, horizon, H, W, 3) uint8
    N, V, Hz, H, W, _ = tg.shape
    y_all = torch.from_numpy(tg).permute(0, 1, 2, 5, 3, 4).reshape(N * V, Hz * 3, H, W)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((N * V + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for ep in range(epochs):
        perm = torch.randperm(N * V, generator=g)
        total = 0.0
        for i in range(0, N * V, batch):
            idx = perm[i:i + batch]
            y = y_all[idx].float() / 255.0
            logits = net(x_all[idx])
            w = 1.0 + 20.0 * y  # the blobs are a small part of the image: weight them up
            loss = (F.binary_cross_entropy_with_logits(logits, y, reduction="none") * w).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        print(f"    action-image net, epoch {ep + 1}/{epochs}: loss {total / (N * V):.4f}", flush=True)
    net.eval()
    return net


def train_regression(data: dict, n_views: int, horizon: int, epochs: int, seed: int, batch: int = 16,
                     lr: float = 2e-3) -> RegressionNet:
    torch.manual_seed(seed)
    net = RegressionNet(n_views, horizon)
    x_all = view_inputs(data["obs"], data["act0"])
    pose = torch.from_numpy(data["pose"]).float()
    delta = torch.from_numpy(data["plan"] - data["pose"][:, None]).float()  # (N, horizon, 7)
    scale = delta.flatten(0, 1).std(0).clamp_min(1e-3)  # per-dimension units
    N = x_all.shape[0]
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((N + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for ep in range(epochs):
        perm = torch.randperm(N, generator=g)
        total = 0.0
        for i in range(0, N, batch):
            idx = perm[i:i + batch]
            pred = net(x_all[idx], pose[idx])
            loss = F.smooth_l1_loss(pred, delta[idx] / scale, beta=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        print(f"    regression net,   epoch {ep + 1}/{epochs}: loss {total / N:.4f}", flush=True)
    net.eval()
    net.scale = scale  # type: ignore[attr-defined]
    return net


# ---------------------------------------------------------------------- run-time wrappers
class TinyActionImageModel:
    """The trained net behind actimg's adapter protocol: ``model(task) -> (V, T, H, W, 3)``."""

    temporal_compression = None

    def __init__(self, net: ActionImageNet) -> None:
        self.net = net

    @torch.no_grad()
    def __call__(self, task) -> np.ndarray:
        if task.n_frames != self.net.horizon + 1:
            raise ValueError(f"trained for {self.net.horizon + 1} frames, asked for {task.n_frames}")
        x = view_inputs(task.observations[None, :, 0], task.actions[None, :, 0])[0]  # (V, C, H, W)
        y = torch.sigmoid(self.net(x))  # (V, 3 horizon, H, W)
        V, _, H, W = y.shape
        y = y.view(V, self.net.horizon, 3, H, W).permute(0, 1, 3, 4, 2).numpy()
        frame0 = task.actions[:, :1].astype(np.float32) / 255.0
        return np.concatenate([frame0, y], axis=1)


class RegressionPolicy:
    """The baseline with the same chunking as ActionImagePolicy (``n_action_steps`` per call)."""

    def __init__(self, net: RegressionNet, rig: actimg.CameraRig, horizon: int, n_action_steps: int) -> None:
        self.net, self.rig, self.horizon, self.n_action_steps = net, rig, horizon, n_action_steps
        self.model = net
        self.reset()

    def reset(self) -> None:
        self._queue: deque = deque()
        self._n_chunks = 0
        self.last_info: dict = {}
        self.last_chunk = None

    @property
    def n_queued(self) -> int:
        return len(self._queue)

    @torch.no_grad()
    def select_action(self, observation: dict) -> np.ndarray:
        pose = np.asarray(observation["pose"], dtype=np.float64)
        if not self._queue:
            act0 = actimg.encode(pose[None], self.rig)[:, 0]
            x = view_inputs(observation["images"][None], act0[None])
            d = self.net(x, torch.from_numpy(pose[None]).float())[0] * self.net.scale
            plan = pose[None] + d.numpy().astype(np.float64)
            self._queue.extend(plan[: self.n_action_steps])
            self._n_chunks += 1
        self.last_info = {"confidence": 1.0, "held": False, "frame": 1, "chunk": self._n_chunks - 1}
        return self._queue.popleft()


def evaluate(env: SimEnv, policy, episodes: int, seed: int) -> dict:
    res, final = [], []
    for i in range(episodes):
        r = run_episode(env, policy, seed=seed + i, render_every_step=False)
        res.append(r)
        final.append(1000.0 * float(np.linalg.norm(r.poses[-1, :3] - env.target_pos)))
    return {"success": sum(r.success for r in res) / episodes, "steps": float(np.mean([r.steps for r in res])),
            "holds": sum(r.holds for r in res), "calls": sum(r.model_calls for r in res),
            "raised": sum(r.error is not None for r in res), "final_mm": float(np.median(final))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64, help="camera and action image size (square), px")
    ap.add_argument("--horizon", type=int, default=8)
    ap.add_argument("--replan-every", type=int, default=4, help="actions executed per model call")
    ap.add_argument("--episodes-train", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=3, help="epochs of the action-image net")
    ap.add_argument("--baseline-epochs", type=int, default=12,
                    help="epochs of the regression net (default: about the same training time as the action-image "
                         "net, whose decoder makes each epoch ~4x slower)")
    ap.add_argument("--fovy", type=float, default=35.0,
                    help="camera field of view (deg): the workspace fills the images")
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--min-confidence", type=float, default=0.0,
                    help="the policy's confidence floor for the learned model (its drawings decode to mm-level std "
                         "at this size, so the decoder's confidence, scaled to 1 mm, is low; invalid and single-view "
                         "frames are still refused)")
    ap.add_argument("--noise", type=float, default=0.01, help="std (m) of the noise added to the expert's actions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: small convolutions do not gain from a second thread on a busy machine)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    env = SimEnv("reach", args.size, args.size, yaw_range=0.0, fovy_deg=args.fovy)
    V = env.rig.n_views
    data = collect(env, args.episodes_train, args.horizon, args.seed, args.noise)
    n = data["obs"].shape[0]
    t_data = time.perf_counter() - t0
    print(f"data: {args.episodes_train} expert episodes, {n} samples x {V} views, {args.size} px, "
          f"{t_data:.0f} s", flush=True)
    t1 = time.perf_counter()
    ai_net = train_action_image(data, V, args.horizon, args.epochs, args.seed)
    t_ai = time.perf_counter() - t1
    t1 = time.perf_counter()
    rg_net = train_regression(data, V, args.horizon, args.baseline_epochs, args.seed)
    t_rg = time.perf_counter() - t1
    eval_seed = 10_000 + args.seed  # episodes never seen in training (training draws its own seeds)
    rows = []
    t1 = time.perf_counter()
    oracle = ActionImagePolicy(ExpertOracle(env), env.rig, horizon=args.horizon, replan_every=args.replan_every)
    rows.append(("oracle (expert drawn as action images)", "-", "-", evaluate(env, oracle, args.eval_episodes,
                                                                              eval_seed)))
    policy = ActionImagePolicy(TinyActionImageModel(ai_net), env.rig, horizon=args.horizon,
                               replan_every=args.replan_every, min_confidence=args.min_confidence,
                               max_position_step=0.06)
    rows.append(("action-image net + ActionImagePolicy", f"{n_params(ai_net):,}", f"{t_ai:.0f}",
                 evaluate(env, policy, args.eval_episodes, eval_seed)))
    baseline = RegressionPolicy(rg_net, env.rig, args.horizon, args.replan_every)
    rows.append(("regression net (7-D actions)", f"{n_params(rg_net):,}", f"{t_rg:.0f}",
                 evaluate(env, baseline, args.eval_episodes, eval_seed)))
    t_eval = time.perf_counter() - t1
    env.close()
    print(f"\nreach task, {args.eval_episodes} evaluation episodes (seeds {eval_seed}..), {V} views, {args.size} px, "
          f"horizon {args.horizon}, replan every {args.replan_every}, {args.episodes_train} training episodes, "
          f"{args.epochs} / {args.baseline_epochs} epochs, min_confidence {args.min_confidence}, seed {args.seed}\n")
    print("| model | parameters | train time (s) | success | final distance median (mm) | mean steps | holds "
          "| model calls | raised |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, params, tt, r in rows:
        print(f"| {name} | {params} | {tt} | {r['success']:.2f} | {r['final_mm']:.1f} | {r['steps']:.1f} "
              f"| {r['holds']} | {r['calls']} | {r['raised']} |")
    print(f"\ntimes: data {t_data:.0f} s, training {t_ai + t_rg:.0f} s, evaluation {t_eval:.0f} s, "
          f"total {time.perf_counter() - t0:.0f} s")
    print(f"success_rate oracle={rows[0][3]['success']:.2f} action_image={rows[1][3]['success']:.2f} "
          f"regression={rows[2][3]['success']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
