"""The Ray engine on a local instance started here (2 CPUs, no dashboard): the same output as
the local engine, results streamed as tasks finish, a crashed task fails its episode only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("pyarrow")
ray = pytest.importorskip("ray")

from actimg.datasets import convert, read_manifest  # noqa: E402
from actimg.datasets.avio import read_frames  # noqa: E402
from actimg.datasets.synthetic import make_folder_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "ACTIMG_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


def test_ray_engine_matches_local(ray_instance, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_folder_dataset(src, n_episodes=3, n_frames=10)
    (src / "episode_002" / "rig.json").write_text("not json")  # one bad episode
    local = convert(src, tmp_path / "local", size=(64, 64), progress=False)
    far = convert(src, tmp_path / "ray", size=(64, 64), engine="ray", progress=False,
                  ray_resources={"num_cpus": 1, "memory": 256 * 2**20})
    assert ray.is_initialized()  # an instance it did not start is left running
    rows = read_manifest(tmp_path / "ray")
    assert [(r["episode"], r["status"]) for r in rows] == [("episode_000", "ok"), ("episode_001", "ok"),
                                                            ("episode_002", "failed")]
    assert "not valid JSON" in rows[2]["error"]
    assert [r["status"] for r in local.rows] == [r["status"] for r in far.rows]
    for ep in ("episode_000", "episode_001"):
        a, b = tmp_path / "local" / ep, tmp_path / "ray" / ep
        assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
        for name in ("actions.npy", "rig.json", "instruction.txt", "action_0.mkv", "action_1.mkv"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
        for v in (0, 1):
            np.testing.assert_array_equal(read_frames(a / f"action_{v}.mkv"), read_frames(b / f"action_{v}.mkv"))
    # a rerun on Ray skips everything
    again = convert(src, tmp_path / "ray", size=(64, 64), engine="ray", progress=False)
    assert (again.converted, again.skipped) == (0, 3)
