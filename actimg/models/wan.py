"""diffusers' Wan pipelines as actimg models: :class:`WanAdapter`.

This module imports torch and diffusers (``pip install "actimg[diffusers]"``);
``import actimg.models`` does not import it.

How a :class:`~actimg.models.Task` becomes a pipeline call
----------------------------------------------------------
1. The task is laid out as the published temporal layout
   (:class:`~actimg.models.TemporalLayout`: ``[obs v1 | action v1 | obs v2 | action v2]``,
   one observation frame per view in ``image_to_action``, no action segments in
   ``video_only``). Each segment is VAE-encoded on its own and the latents are
   concatenated along time: ``L = sum over segments of (T_seg - 1) // 4 + 1`` latent
   frames (44 for 2 views x 2 segments x 41 frames). Only the given prefix of a segment
   is encoded (the Wan VAE is causal in time, so latent ``j`` depends on frames
   ``0..4 j`` only: the result equals encoding the whole zero-filled segment).
2. The pipeline runs on that latent sequence (``num_frames = 4 (L - 1) + 1``), started
   from ``latents`` = seeded noise with the given latent frames in place, ``prompt_embeds``
   passed directly (or the task's instruction encoded by the pipeline's own text
   encoder), ``output_type="latent"``.
3. Given latent frames (the task's :meth:`~actimg.models.Task.latent_masks`, laid out)
   are held by ``callback_on_step_end`` returning ``{"latents": ...}`` after every
   scheduler step, so the transformer sees them at every step and they end equal to
   the encoded given frames.
4. The final latents are decoded segment by segment (as they were encoded: decoding
   the concatenation as one causal video would smear segments into each other), mapped
   to uint8 (``round(255 x)`` of ``(y + 1) / 2``) and split back into the task's views:
   a :class:`~actimg.models.Generated` with action frames (where the task has action
   segments) and observation frames.

Holding given latents: ``hold="clean"`` or ``"renoise"``
--------------------------------------------------------
- ``"clean"`` (default): given latents are replaced by their clean encodings after
  every step, so the transformer always sees them clean, at the same timestep as the
  noisy ones. This is what the published system does: its training keeps the masked
  latents clean in the noisy input (and computes the loss on the others only), and its
  inference updates only the unmasked latents with the scheduler. Use it for checkpoints
  trained that way.
- ``"renoise"``: given latents are replaced by the clean encoding re-noised to the noise
  level of the next step, ``(1 - sigma) x0 + sigma eps`` (flow matching, ``eps`` the
  noise the run started from), the usual inpainting scheme for a model never trained
  with clean tokens; at the last step ``sigma = 0``, so they end clean too. Needs a
  flow-matching scheduler (``FlowMatchEulerDiscreteScheduler``, or
  ``UniPCMultistepScheduler(use_flow_sigmas=True)``).

Routes and the modes they serve
-------------------------------
- ``WanPipeline`` with a Wan2.2-TI2V-style transformer (``in_channels == z_dim``; no
  image encoder): all five modes, every given frame (the conditioning frames included)
  held by latent replacement with one timestep for all tokens: the published
  system's scheme (Wan2.2-TI2V-5B, run there through DiffSynth).
- ``WanImageToVideoPipeline`` (Wan2.1 I2V: CLIP image encoder, ``in_channels = 2 z_dim +
  4``; or diffusers' Wan2.2-TI2V-5B image-to-video configuration,
  ``expand_timesteps=True``): all five modes; ``image`` is the layout's first frame
  (observation frame 0 of the conditioning view), given to the pipeline's own image
  conditioning (CLIP embedding and first-frame condition channels, or the clean first
  latent at timestep 0); every other given frame (frame 0 of the other segments, whole
  given segments) is held by latent replacement. An off-the-shelf I2V checkpoint was
  trained on one continuous video, not on segments; fine-tune it on the layout before
  expecting action images from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanPipeline
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('actimg.models.wan needs torch and diffusers: pip install "actimg[diffusers]"') from exc

from .adapters import Generated
from .backbones import BackboneRules, check_backbone
from .convert import from_channels_first, from_model_range, to_channels_first, to_model_range
from .layout import TemporalLayout
from .task import Task

__all__ = ["HOLDS", "WanAdapter", "WanResult", "from_diffusers"]

#: How given latents are held (see the module docstring).
HOLDS = ("clean", "renoise")

Embeds = Any  # torch.Tensor or callable(instruction) -> torch.Tensor


@dataclass(frozen=True)
class WanResult:
    """Everything one :meth:`WanAdapter.generate` call made.

    Attributes:
        generated: the frames, in the task's shapes.
        latents: ``(1, C, L, h, w)`` final (normalised) latents, on the CPU.
        given_latents: ``(1, C, L, h, w)`` clean encodings of the given frames (zeros elsewhere).
        latent_mask: ``(L,)`` bool, True at given latent frames.
        noise: ``(1, C, L, h, w)`` the noise the run started from (seeded).
        layout: the temporal layout used.
        pipeline_kwargs: the arguments the pipeline was called with (tensors included).
    """

    generated: Generated
    latents: "torch.Tensor"
    given_latents: "torch.Tensor"
    latent_mask: np.ndarray
    noise: "torch.Tensor"
    layout: TemporalLayout
    pipeline_kwargs: dict


def _is_flow_scheduler(scheduler: Any) -> bool:
    cfg = getattr(scheduler, "config", None)
    return isinstance(scheduler, FlowMatchEulerDiscreteScheduler) or bool(getattr(cfg, "use_flow_sigmas", False))


class WanAdapter:
    """A diffusers Wan pipeline as a model: ``adapter(task) -> Generated``.

    Args:
        pipe: a ``WanPipeline`` (TI2V-style transformer) or ``WanImageToVideoPipeline``.
        prompt_embeds: ``(1, S, D)`` text embeddings, or a callable
            ``instruction -> embeddings``; ``None``: the pipeline encodes
            ``task.instruction`` with its own text encoder.
        negative_prompt_embeds: the same for classifier-free guidance (needed when
            ``guidance_scale > 1`` and the pipeline has no text encoder).
        num_inference_steps: scheduler steps.
        guidance_scale: classifier-free guidance scale (``<= 1``: off).
        hold: ``"clean"`` or ``"renoise"`` (module docstring).
        seed: seed of the run's noise when no generator is passed (``None``: random).
        **pipeline_kwargs: passed through to the pipeline call (e.g. ``attention_kwargs``).

    See the module docstring for the routes and the modes each serves.
    """

    def __init__(self, pipe: Any, *, prompt_embeds: Embeds | None = None,
                 negative_prompt_embeds: Embeds | None = None, num_inference_steps: int = 50,
                 guidance_scale: float = 5.0, hold: str = "clean", seed: int | None = 0,
                 **pipeline_kwargs: Any) -> None:
        if isinstance(pipe, WanImageToVideoPipeline):
            self.route = "image_to_video"
        elif isinstance(pipe, WanPipeline):
            self.route = "text_to_video"
        else:
            raise TypeError(f"pipe must be a diffusers WanPipeline or WanImageToVideoPipeline, "
                            f"got {type(pipe).__name__}")
        if hold not in HOLDS:
            raise ValueError(f"hold must be one of {HOLDS}, got {hold!r}")
        if hold == "renoise" and not _is_flow_scheduler(pipe.scheduler):
            raise ValueError(f"hold='renoise' re-noises as flow matching, (1 - sigma) x0 + sigma eps; the pipeline's "
                             f"{type(pipe.scheduler).__name__} is not a flow-matching scheduler (use "
                             "FlowMatchEulerDiscreteScheduler or UniPCMultistepScheduler(use_flow_sigmas=True))")
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be a positive integer, got {num_inference_steps!r}")
        reserved = {"image", "prompt", "negative_prompt", "latents", "num_frames", "height", "width", "output_type",
                    "callback_on_step_end", "callback_on_step_end_tensor_inputs", "generator", "return_dict"}
        clash = reserved & set(pipeline_kwargs)
        if clash:
            raise ValueError(f"{sorted(clash)} are set by the adapter from the task; do not pass them")
        self.pipe = pipe
        self.prompt_embeds = prompt_embeds
        self.negative_prompt_embeds = negative_prompt_embeds
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = float(guidance_scale)
        self.hold = hold
        self.seed = seed
        self.pipeline_kwargs = pipeline_kwargs
        transformer = pipe.transformer if pipe.transformer is not None else pipe.transformer_2
        self.rules = BackboneRules(f"{type(pipe).__name__}", int(pipe.vae_scale_factor_temporal),
                                   int(pipe.vae_scale_factor_spatial), int(transformer.config.patch_size[1]),
                                   int(pipe.vae.config.z_dim))

    # ----------------------------------------------------------------- pieces
    @property
    def backbone(self) -> BackboneRules:
        """The pipeline's rules (frame count ``c k + 1``, size multiples), read from its
        VAE and transformer: what :class:`actimg.policy` reads to size its horizon."""
        return self.rules

    @property
    def device(self) -> "torch.device":
        return self.pipe._execution_device

    def _latent_norm(self, device: Any, dtype: Any) -> tuple["torch.Tensor", "torch.Tensor"]:
        cfg = self.pipe.vae.config
        mean = torch.tensor(cfg.latents_mean, device=device, dtype=dtype).view(1, cfg.z_dim, 1, 1, 1)
        std = torch.tensor(cfg.latents_std, device=device, dtype=dtype).view(1, cfg.z_dim, 1, 1, 1)
        return mean, std

    def encode(self, frames: np.ndarray) -> "torch.Tensor":
        """``(B, T, H, W, 3)`` uint8 frames -> ``(B, C, (T - 1) // 4 + 1, h, w)`` normalised
        latents (the distribution's mode, normalised as the pipelines do), float32 on the CPU."""
        vae = self.pipe.vae
        vdev = next(vae.parameters()).device
        x = torch.from_numpy(to_channels_first(to_model_range(frames))).to(device=vdev, dtype=vae.dtype)
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mode().float()
        mean, std = self._latent_norm(z.device, z.dtype)
        return ((z - mean) / std).cpu()

    def decode(self, latents: "torch.Tensor") -> np.ndarray:
        """``(B, C, L, h, w)`` normalised latents -> ``(B, 4 (L - 1) + 1, H, W, 3)`` uint8."""
        vae = self.pipe.vae
        vdev = next(vae.parameters()).device
        mean, std = self._latent_norm(vdev, torch.float32)
        z = latents.to(device=vdev, dtype=torch.float32) * std + mean
        with torch.no_grad():
            y = vae.decode(z.to(vae.dtype), return_dict=False)[0]
        y = y.float().clamp(-1.0, 1.0).cpu().numpy()
        return from_model_range(from_channels_first(y))

    def given_latents(self, task: Task, layout: TemporalLayout | None = None) -> tuple["torch.Tensor", np.ndarray]:
        """``(1, C, L, h, w)`` clean latents of the given frames (zeros elsewhere) and the
        ``(L,)`` latent mask, in ``layout`` (default: the task's temporal layout)."""
        layout = layout or TemporalLayout.for_task(task)
        c = self.rules.temporal_compression
        mask = layout.task_latent_mask(task, c)
        frames, _ = layout.pack(task)
        lat_segs = layout.latent_segments(c)
        s = self.rules.spatial_compression
        out = torch.zeros((1, self.rules.latent_channels, layout.total_latent_frames(c), task.height // s,
                           task.width // s), dtype=torch.float32)
        # encode the given prefix of each segment; segments with equal prefixes in one batch
        groups: dict[int, list[tuple[slice, slice]]] = {}
        for seg, lat in zip(layout.segments, lat_segs):
            m = mask[lat.frames]
            if not m.any():
                continue
            k = int(np.flatnonzero(m)[-1])  # last given latent frame of the segment
            groups.setdefault(k, []).append((seg.frames, lat.frames))
        for k, items in groups.items():
            n = c * k + 1
            batch = np.stack([frames[f.start:f.start + n] for f, _ in items])
            z = self.encode(batch)
            for b, (_, lat) in enumerate(items):
                out[0, :, lat.start:lat.start + k + 1] = z[b]
        keep = torch.from_numpy(mask).view(1, 1, -1, 1, 1)
        return out * keep, mask

    def _embeds(self, value: Embeds | None, instruction: str | None) -> Any:
        if value is None:
            return None
        emb = value(instruction) if callable(value) else value
        if not isinstance(emb, torch.Tensor) or emb.ndim != 3 or emb.shape[0] != 1:
            raise ValueError(f"prompt embeddings must be a (1, sequence, dim) torch tensor (one task, one "
                             f"video), got {type(emb).__name__} {tuple(getattr(emb, 'shape', ()))}")
        return emb

    def _prompt_kwargs(self, task: Task) -> dict:
        kw: dict = {}
        pe = self._embeds(self.prompt_embeds, task.instruction)
        ne = self._embeds(self.negative_prompt_embeds, task.instruction)
        has_text_encoder = getattr(self.pipe, "text_encoder", None) is not None and \
            getattr(self.pipe, "tokenizer", None) is not None
        if pe is None:
            if not has_text_encoder:
                raise ValueError("the pipeline has no text encoder (tokenizer/text_encoder None): pass prompt_embeds "
                                 "(a tensor, or a callable instruction -> tensor) to WanAdapter")
            kw["prompt"] = task.instruction or ""
        else:
            kw["prompt_embeds"] = pe
        if self.guidance_scale > 1.0:
            if ne is not None:
                kw["negative_prompt_embeds"] = ne
            elif not has_text_encoder:
                raise ValueError(f"guidance_scale={self.guidance_scale} > 1 needs negative_prompt_embeds when the "
                                 "pipeline has no text encoder; pass them, or guidance_scale=1")
        return kw

    # --------------------------------------------------------------- the call
    def generate(self, task: Task, generator: "torch.Generator | None" = None) -> WanResult:
        """Run the pipeline on ``task``; return the frames and the latents (see :class:`WanResult`).

        Raises:
            ValueError: the task breaks the backbone's rules (4k+1 frames, size
                multiples), a given frame group only partly covers a latent frame, or a
                prompt is missing (see ``prompt_embeds``).
        """
        if not isinstance(task, Task):
            raise TypeError(f"task must be an actimg.models.Task, got {type(task).__name__}")
        check_backbone(task.n_frames, task.height, task.width, self.rules)
        layout = TemporalLayout.for_task(task)
        c = self.rules.temporal_compression
        prompt_kw = self._prompt_kwargs(task)
        x0, mask = self.given_latents(task, layout)
        L = x0.shape[2]
        if generator is None:
            generator = torch.Generator(device="cpu")
            if self.seed is None:
                generator.seed()
            else:
                generator.manual_seed(int(self.seed))
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32, device=generator.device).cpu()
        keep = torch.from_numpy(mask).view(1, 1, -1, 1, 1)
        sched = self.pipe.scheduler
        device = self.device
        if self.hold == "renoise":
            sched.set_timesteps(self.num_inference_steps, device=device)  # the pipeline sets the same again
            s0 = float(sched.sigmas[0])
            start = torch.where(keep, (1.0 - s0) * x0 + s0 * noise, noise)
        else:
            start = torch.where(keep, x0, noise)
        x0_d, noise_d, keep_d = x0.to(device), noise.to(device), keep.to(device)
        hold = self.hold

        def hold_given(pipe: Any, i: int, t: Any, kwargs: dict) -> dict:
            lat = kwargs["latents"]
            if hold == "clean":
                target = x0_d
            else:
                sig = float(pipe.scheduler.sigmas[i + 1]) if i + 1 < len(pipe.scheduler.sigmas) else 0.0
                target = (1.0 - sig) * x0_d + sig * noise_d
            return {"latents": torch.where(keep_d, target.to(lat.dtype), lat)}

        kwargs = dict(prompt_kw, height=task.height, width=task.width, num_frames=c * (L - 1) + 1,
                      num_inference_steps=self.num_inference_steps, guidance_scale=self.guidance_scale,
                      generator=generator, latents=start.to(device), output_type="latent",
                      callback_on_step_end=hold_given, callback_on_step_end_tensor_inputs=["latents"],
                      **self.pipeline_kwargs)
        if self.route == "image_to_video":
            from PIL import Image

            kwargs["image"] = Image.fromarray(np.ascontiguousarray(task.observations[0, 0]))
        out = self.pipe(**kwargs)
        latents = (out.frames if hasattr(out, "frames") else out[0]).float().cpu()
        if latents.shape != x0.shape:
            raise RuntimeError(f"the pipeline returned latents of shape {tuple(latents.shape)}, expected "
                               f"{tuple(x0.shape)}")
        frames = self._decode_segments(latents, layout, task)
        obs, acts = layout.split(frames)
        return WanResult(Generated(acts, obs), latents, x0, mask, noise, layout, kwargs)

    def _decode_segments(self, latents: "torch.Tensor", layout: TemporalLayout, task: Task) -> np.ndarray:
        c = self.rules.temporal_compression
        out = np.empty((layout.total_frames, task.height, task.width, 3), np.uint8)
        for seg, lat in zip(layout.segments, layout.latent_segments(c)):
            out[seg.frames] = self.decode(latents[:, :, lat.frames])[0]
        return out

    def __call__(self, task: Task, generator: "torch.Generator | None" = None) -> Generated:
        """The model protocol: the frames of :meth:`generate`."""
        return self.generate(task, generator).generated

    def __repr__(self) -> str:
        return (f"WanAdapter({type(self.pipe).__name__}, route={self.route!r}, hold={self.hold!r}, "
                f"steps={self.num_inference_steps}, guidance={self.guidance_scale})")


def from_diffusers(pipe: Any, **kwargs: Any) -> WanAdapter:
    """``WanAdapter(pipe, **kwargs)``."""
    return WanAdapter(pipe, **kwargs)

