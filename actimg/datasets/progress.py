"""Progress of a conversion: a bar on a TTY, plain log lines otherwise, a summary table at the end."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, TextIO

__all__ = ["Progress", "summary_table"]


def _hms(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Counts finished episodes; draws a bar (episodes/s, ETA) on a TTY, else one line each.

    Args:
        total: episodes to convert in this run (skipped ones excluded).
        skipped: episodes already finished by an earlier run.
        stream: where to write (default stderr); None is silent.
    """

    def __init__(self, total: int, skipped: int = 0, stream: TextIO | None = sys.stderr) -> None:
        self.total, self.skipped, self.stream = total, skipped, stream
        self.tty = bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
        self.done = 0
        self.frames = 0
        self.status: Counter[str] = Counter()
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        if stream is not None and not self.tty:
            stream.write(f"actimg convert: {total} episodes to convert, {skipped} already done\n")
            stream.flush()

    @property
    def rate(self) -> float:
        """Episodes per second so far."""
        dt = time.perf_counter() - self.t0
        return self.done / dt if dt > 0 else 0.0

    def update(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.frames += int(row.get("frames", 0))
        self.status[row["status"]] += 1
        if self.stream is None:
            return
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        counts = " ".join(f"{k} {self.status[k]}" for k in ("ok", "filtered", "failed") if self.status[k])
        if self.tty:
            now = time.perf_counter()
            if now - self._last_draw < 0.1 and self.done < self.total:
                return
            self._last_draw = now
            width = 30
            fill = int(width * self.done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} "
                              f"{rate:.2f} ep/s ETA {_hms(eta)} {counts}   ")
            if self.done >= self.total:
                self.stream.write("\n")
        else:
            err = f" ({row['error']})" if row.get("error") else ""
            flags = f" [{row['flags']}]" if row.get("flags") else ""
            self.stream.write(f"actimg convert: {self.done}/{self.total} {row['episode']} {row['status']}{flags}"
                              f"{err}; {rate:.2f} ep/s, ETA {_hms(eta)}\n")
        self.stream.flush()


def summary_table(rows: list[dict[str, Any]], wall_s: float, skipped: int) -> str:
    """A small markdown table: episodes by status, frames, rates and where the time went."""
    c = Counter(r["status"] for r in rows)
    frames = sum(int(r["frames"]) for r in rows if r["status"] != "failed")
    parts = {k: sum(float(r.get(k, 0.0)) for r in rows) for k in ("read_s", "render_s", "encode_s", "quality_s")}
    busy = sum(parts.values())
    n = len(rows)
    lines = ["| episodes | ok | filtered | failed | skipped (done before) | frames | wall s | episodes/s | frames/s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| {n} | {c['ok']} | {c['filtered']} | {c['failed']} | {skipped} | {frames} | {wall_s:.1f} | "
             f"{n / wall_s if wall_s > 0 else 0:.2f} | {frames / wall_s if wall_s > 0 else 0:.1f} |",
             "",
             "| time in workers | read + resize | render action images | write videos | quality check |",
             "|---|---:|---:|---:|---:|",
             "| share | " + " | ".join(f"{100 * parts[k] / busy:.0f}%" if busy > 0 else "-" for k in
                                      ("read_s", "render_s", "encode_s", "quality_s")) + " |"]
    failed = [r for r in rows if r["status"] == "failed"][:5]
    if failed:
        lines += ["", "first failures:"] + [f"- {r['episode']}: {r['error']}" for r in failed]
    return "\n".join(lines)
