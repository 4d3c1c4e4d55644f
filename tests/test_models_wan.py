"""WanAdapter on tiny, randomly initialised diffusers Wan pipelines, offline, on CPU.

The pipelines are built from configs (the tiny sizes of diffusers' own Wan tests), with
``tokenizer=None, text_encoder=None`` and ``prompt_embeds`` passed directly, so nothing is
downloaded. Random weights draw garbage: these tests check the call path (shapes, ranges,
determinism, given frames held at every step, decoding), not image quality.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

import actimg  # noqa: E402
from actimg.models import MODES, Task, TemporalLayout, run_model  # noqa: E402
from actimg.models.wan import WanAdapter  # noqa: E402

from diffusers import (AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler,  # noqa: E402
                       WanImageToVideoPipeline, WanPipeline, WanTransformer3DModel)

V, T, H, W = 2, 5, 32, 32
TEXT_DIM = 32


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one thread is ~10x faster than several on a shared CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _transformer(in_channels, out_channels, **kw):
    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                 in_channels=in_channels, out_channels=out_channels, text_dim=TEXT_DIM, freq_dim=256,
                                 ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                 rope_max_seq_len=32, **kw)


@pytest.fixture(scope="module")
def vae21():
    torch.manual_seed(0)
    return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True])


@pytest.fixture(scope="module")
def vae22():
    """The Wan2.2-TI2V-5B VAE's structure (z_dim 48, spatial factor 16, patchified input)."""
    torch.manual_seed(0)
    return AutoencoderKLWan(base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
                            latents_mean=[0.0] * 48, latents_std=[1.0] * 48, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            scale_factor_spatial=16, scale_factor_temporal=4, temperal_downsample=[False, True, True])


def _quiet(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def t2v(vae21):
    return _quiet(WanPipeline(tokenizer=None, text_encoder=None, vae=vae21,
                              scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0), transformer=_transformer(16, 16)))


@pytest.fixture(scope="module")
def i2v(vae21):
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    enc = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=4, projection_dim=4, num_hidden_layers=2,
                                                         num_attention_heads=2, image_size=32, intermediate_size=16,
                                                         patch_size=1))
    proc = CLIPImageProcessor(crop_size=32, size=32)
    return _quiet(WanImageToVideoPipeline(tokenizer=None, text_encoder=None, vae=vae21,
                                          scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
                                          transformer=_transformer(36, 16, image_dim=4), image_encoder=enc,
                                          image_processor=proc))


@pytest.fixture(scope="module")
def ti2v(vae22):
    """Wan2.2-TI2V-5B style: transformer on the 48-channel latents, flow UniPC scheduler."""
    sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0)
    return _quiet(WanPipeline(tokenizer=None, text_encoder=None, vae=vae22, scheduler=sched,
                              transformer=_transformer(48, 48), expand_timesteps=True))


@pytest.fixture(scope="module")
def scene():
    rig, acts = actimg.default_scene(V, T, H, W)
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (V, H, W, 3), dtype=np.uint8)
    videos = rng.integers(0, 256, (V, T, H, W, 3), dtype=np.uint8)
    emb = torch.randn(1, 8, TEXT_DIM, generator=torch.Generator().manual_seed(1))
    return rig, acts, obs, videos, emb


def make(mode, scene):
    rig, acts, obs, videos, _ = scene
    return {"joint": lambda: Task.joint(rig, obs, acts[0], T, "pick"),
            "action_to_video": lambda: Task.action_to_video(rig, obs, acts),
            "video_to_action": lambda: Task.video_to_action(rig, videos, pose=acts[0]),
            "video_only": lambda: Task.video_only(rig, obs, T),
            "image_to_action": lambda: Task.image_to_action(rig, obs, acts[0], T)}[mode]()


def _held(result, atol=0.0):
    m = torch.from_numpy(result.latent_mask)
    assert m.any()
    diff = (result.latents[:, :, m] - result.given_latents[:, :, m]).abs().max().item()
    assert diff <= atol, diff


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_through_wan_pipeline(mode, t2v, scene):
    rig = scene[0]
    task = make(mode, scene)
    adapter = WanAdapter(t2v, prompt_embeds=scene[4], guidance_scale=1.0, num_inference_steps=2)
    assert (adapter.backbone.temporal_compression, adapter.backbone.size_multiple) == (4, 16)
    res = adapter.generate(task)
    lay = TemporalLayout.for_task(task)
    L = lay.total_latent_frames(4)
    assert tuple(res.latents.shape) == (1, 16, L, H // 8, W // 8) and torch.isfinite(res.latents).all()
    np.testing.assert_array_equal(res.latent_mask, lay.task_latent_mask(task))
    assert res.pipeline_kwargs["num_frames"] == 4 * (L - 1) + 1
    _held(res)  # given latents equal the encoded given frames after the call
    gen = run_model(adapter, task)  # the adapter is a model: the protocol's checks pass
    if task.has_action_segments:
        assert gen.actions.shape == (V, T, H, W, 3) and gen.actions.dtype == np.uint8
        decoded = actimg.decode(gen.actions, rig)  # garbage in, but a well-formed result out
        assert isinstance(decoded, actimg.DecodeResult) and decoded.actions.shape == (T, 7)
    else:
        assert gen.actions is None
    assert gen.observations.shape == (V, task.observation_frames, H, W, 3)
    assert gen.observations.dtype == np.uint8


def test_given_latents_are_the_encoded_given_frames(t2v, vae22, scene):
    """Independent of the adapter's prefix trick: encode each whole zero-filled segment."""
    task = make("action_to_video", scene)
    adapter = WanAdapter(t2v, prompt_embeds=scene[4], guidance_scale=1.0, num_inference_steps=1)
    lay = TemporalLayout.for_task(task)
    x0, mask = adapter.given_latents(task, lay)
    frames, _ = lay.pack(task)
    for seg, lat in zip(lay.segments, lay.latent_segments(4)):
        full = adapter.encode(frames[seg.frames][None])
        m = torch.from_numpy(mask[lat.frames])
        torch.testing.assert_close(x0[:, :, lat.frames][:, :, m], full[:, :, m], rtol=0, atol=1e-5)
        assert (x0[:, :, lat.frames][:, :, ~m] == 0).all()
    # the causal Wan2.2 VAE too: a prefix encodes like the whole segment
    ad22 = WanAdapter(_quiet(WanPipeline(tokenizer=None, text_encoder=None, vae=vae22,
                                         scheduler=FlowMatchEulerDiscreteScheduler(),
                                         transformer=_transformer(48, 48))), prompt_embeds=scene[4])
    vid = scene[3][:1]
    torch.testing.assert_close(ad22.encode(vid)[:, :, :1], ad22.encode(vid[:, :1]), rtol=0, atol=1e-5)


def test_held_at_every_step_clean_and_renoise(t2v, scene):
    """The transformer sees the given latents clean (hold='clean') or re-noised to the
    current sigma (hold='renoise') at every step."""
    task = make("joint", scene)
    seen = []
    hook = t2v.transformer.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append(kwargs["hidden_states"].detach().clone()), with_kwargs=True)
    try:
        for hold in ("clean", "renoise"):
            seen.clear()
            res = WanAdapter(t2v, prompt_embeds=scene[4], guidance_scale=1.0, num_inference_steps=3,
                             hold=hold).generate(task)
            m = torch.from_numpy(res.latent_mask)
            sigmas = t2v.scheduler.sigmas
            assert len(seen) == 3
            for i, x in enumerate(seen):
                want = res.given_latents if hold == "clean" else \
                    (1 - float(sigmas[i])) * res.given_latents + float(sigmas[i]) * res.noise
                torch.testing.assert_close(x[:, :, m], want[:, :, m], rtol=0, atol=1e-5)
                assert not torch.allclose(x[:, :, ~m], res.given_latents[:, :, ~m])
            _held(res)
    finally:
        hook.remove()


def test_determinism(t2v, scene):
    task = make("joint", scene)
    a = WanAdapter(t2v, prompt_embeds=scene[4], guidance_scale=1.0, num_inference_steps=2, seed=3)
    r1, r2 = a.generate(task), a.generate(task)
    assert torch.equal(r1.latents, r2.latents)
    np.testing.assert_array_equal(r1.generated.actions, r2.generated.actions)
    r3 = a.generate(task, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(r1.latents, r3.latents)
    # guidance with negative embeddings runs the unconditional branch too
    g = WanAdapter(t2v, prompt_embeds=lambda s: scene[4], negative_prompt_embeds=torch.zeros_like(scene[4]),
                   guidance_scale=4.0, num_inference_steps=2, seed=3).generate(task)
    assert not torch.equal(g.latents, r1.latents)
    _held(g)


@pytest.mark.parametrize("hold", ["clean", "renoise"])
def test_image_to_video_route(i2v, scene, hold):
    task = make("joint", scene)
    adapter = WanAdapter(i2v, prompt_embeds=scene[4], guidance_scale=1.0, num_inference_steps=2, hold=hold)
    assert adapter.route == "image_to_video"
    res = adapter.generate(task)
    img = res.pipeline_kwargs["image"]
    np.testing.assert_array_equal(np.asarray(img), task.observations[0, 0])  # the conditioning frame
    _held(res)
    gen = run_model(adapter, task)
    assert gen.actions.shape == (V, T, H, W, 3)
    assert actimg.decode(gen.actions, task.rig).actions.shape == (T, 7)


def test_ti2v_5b_style_routes(ti2v, vae22, scene):
    task = make("video_to_action", scene)
    res = WanAdapter(ti2v, prompt_embeds=scene[4], guidance_scale=1.0, num_inference_steps=2,
                     hold="renoise").generate(task)
    assert tuple(res.latents.shape) == (1, 48, 8, H // 16, W // 16)
    assert WanAdapter(ti2v, prompt_embeds=scene[4]).backbone.size_multiple == 32
    assert res.latent_mask.astype(int).tolist() == [1, 1, 1, 0, 1, 1, 1, 0]
    _held(res)
    # diffusers' own Wan2.2-TI2V-5B image-to-video configuration (first latent at timestep 0)
    pipe = _quiet(WanImageToVideoPipeline(tokenizer=None, text_encoder=None, vae=vae22, scheduler=ti2v.scheduler,
                                          transformer=ti2v.transformer, expand_timesteps=True))
    res2 = WanAdapter(pipe, prompt_embeds=scene[4], guidance_scale=1.0, num_inference_steps=2).generate(
        make("image_to_action", scene))
    _held(res2, atol=1e-5)  # the pipeline re-encodes the first frame itself
    assert res2.generated.observations.shape == (V, 1, H, W, 3)


def test_lazy_export():
    import actimg.models

    assert actimg.models.WanAdapter is WanAdapter


def test_adapter_errors(t2v, ti2v, scene):
    rig, acts, obs, videos, emb = scene
    task = make("joint", scene)
    with pytest.raises(TypeError, match="WanPipeline or WanImageToVideoPipeline"):
        WanAdapter(object())
    with pytest.raises(ValueError, match="hold must be one of"):
        WanAdapter(t2v, prompt_embeds=emb, hold="frozen")
    with pytest.raises(ValueError, match="not a flow-matching scheduler"):
        pipe = WanPipeline(tokenizer=None, text_encoder=None, vae=t2v.vae, scheduler=UniPCMultistepScheduler(),
                           transformer=t2v.transformer)
        WanAdapter(pipe, prompt_embeds=emb, hold="renoise")
    with pytest.raises(ValueError, match="set by the adapter"):
        WanAdapter(t2v, prompt_embeds=emb, num_frames=9)
    with pytest.raises(ValueError, match="num_inference_steps"):
        WanAdapter(t2v, prompt_embeds=emb, num_inference_steps=0)
    with pytest.raises(ValueError, match="no text encoder.*pass prompt_embeds"):
        WanAdapter(t2v).generate(task)
    with pytest.raises(ValueError, match="needs negative_prompt_embeds"):
        WanAdapter(t2v, prompt_embeds=emb, guidance_scale=5.0).generate(task)
    with pytest.raises(ValueError, match="torch tensor"):
        WanAdapter(t2v, prompt_embeds=lambda s: "text", guidance_scale=1.0).generate(task)
    with pytest.raises(ValueError, match="\\(1, sequence, dim\\)"):
        WanAdapter(t2v, prompt_embeds=emb.repeat(2, 1, 1), guidance_scale=1.0).generate(task)
    six = Task.joint(rig, obs, acts[0], 6)
    with pytest.raises(ValueError, match="4k\\+1 frames per segment"):
        WanAdapter(t2v, prompt_embeds=emb, guidance_scale=1.0).generate(six)
    rig48, _ = actimg.default_scene(V, T, 48, 48)
    t48 = Task.video_only(rig48, np.zeros((V, 48, 48, 3), np.uint8), T)
    with pytest.raises(ValueError, match="height to be a multiple of 32"):
        WanAdapter(ti2v, prompt_embeds=emb, guidance_scale=1.0).generate(t48)
    with pytest.raises(TypeError, match="Task"):
        WanAdapter(t2v, prompt_embeds=emb).generate("task")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_device(scene):
    """The same call path with the pipeline on the GPU (a fresh pipeline: the fixtures stay on the CPU)."""
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    pipe = _quiet(WanPipeline(tokenizer=None, text_encoder=None, vae=vae,
                              scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0), transformer=_transformer(16, 16)))
    pipe.to("cuda")
    task = make("joint", scene)
    for hold in ("clean", "renoise"):
        adapter = WanAdapter(pipe, prompt_embeds=scene[4].cuda(), guidance_scale=1.0, num_inference_steps=2, hold=hold)
        res = adapter.generate(task)
        _held(res, atol=1e-5)
        assert res.latents.device.type == "cpu"
        assert torch.equal(res.latents, adapter.generate(task).latents)
        assert actimg.decode(res.generated.actions, task.rig).actions.shape == (T, 7)
