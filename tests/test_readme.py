"""Every README snippet runs as pasted.

Each ```python block runs on its own (fresh namespace, in a temporary folder). A block
that needs an optional extra which is not installed (torch, diffusers, mujoco, ray, ...)
is skipped, naming the missing module; any other error fails. The command-line block
(```bash with ``actimg`` commands) runs line by line, except ``pip install`` lines and
``actimg bench`` (minutes; ``tests/test_cli.py`` covers the bench command).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
OPTIONAL = {"torch", "diffusers", "transformers", "mujoco", "ray", "pyarrow", "av", "h5py", "yaml"}


def _blocks(lang: str) -> list[tuple[str, str]]:
    """(id, code) of every ```lang block, the id naming the section it sits in."""
    text = README.read_text()
    out, heading = [], "top"
    for m in re.finditer(r"^(#+ [^\n]*)$|^```" + lang + r"\n(.*?)^```", text, flags=re.M | re.S):
        if m.group(1):
            heading = re.sub(r"[^a-z0-9]+", "-", m.group(1).lstrip("# ").lower()).strip("-")
        else:
            out.append((f"{heading}-{len(out)}", m.group(2)))
    return out


PY = _blocks("python")


def test_readme_has_snippets():
    assert len(PY) >= 4


@pytest.mark.parametrize("code", [c for _, c in PY], ids=[i for i, _ in PY])
def test_python_snippet_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing in OPTIONAL:
            pytest.skip(f"needs the optional package {missing!r}")
        raise


def _cli_lines() -> list[str]:
    lines = []
    for _, code in _blocks("bash"):
        for line in code.splitlines():
            cmd = line.split("  #")[0].strip()
            if not cmd or cmd.startswith("#") or "pip install" in cmd or cmd.startswith("actimg bench"):
                continue
            if cmd.startswith(("actimg ", "python -c")):
                lines.append(cmd)
    return lines


def test_cli_snippet_runs(tmp_path):
    lines = _cli_lines()
    assert any(line.startswith("actimg encode") for line in lines)
    env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    exe = Path(sys.executable).parent
    for cmd in lines:
        argv = shlex.split(cmd)
        if argv[0] == "python":
            argv[0] = sys.executable
        elif argv[0] == "actimg":
            argv = [sys.executable, "-m", "actimg.cli"] + argv[1:] if not (exe / "actimg").exists() \
                else [str(exe / "actimg")] + argv[1:]
        r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
