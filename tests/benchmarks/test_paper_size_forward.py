"""The paper-size forward benchmark's workers, run in-process on the tiny config at its size."""

from pathlib import Path

from absl import app
import pytest

from benchmarks import paper_size_forward

TINY_CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "tiny_synthetic_cpu.config")


@pytest.fixture
def tiny_clip(monkeypatch):
  # The tiny config's input: 16 frames of 112x112 (the module's constants are the paper's).
  monkeypatch.setattr(paper_size_forward, "NUM_FRAMES", 16)
  monkeypatch.setattr(paper_size_forward, "HEIGHT", 112)
  monkeypatch.setattr(paper_size_forward, "WIDTH", 112)
  monkeypatch.setattr(paper_size_forward, "MATMUL_SIZE", 64)


@pytest.mark.slow  # About 25 s of CPU: every I3D block is traced on its own.
def test_trunk_flops_equal_the_sum_over_its_blocks(tiny_clip):
  trunk = paper_size_forward.run_worker("trunk", TINY_CONFIG, 1, None)
  blocks = paper_size_forward.run_worker("trunk_blocks", TINY_CONFIG, 1, None)
  assert [s["name"] for s in trunk["stages"]] == ["preprocess", "trunk"]
  assert all(s["warm_median_s"] > 0 for s in trunk["stages"])
  trunk_flops = trunk["stages"][1]["flops"]["Conv3D"]
  assert trunk_flops > 0
  assert sum(s.get("flops", {}).get("Conv3D", 0) for s in blocks["stages"]) == trunk_flops
  assert blocks["stages"][0]["name"] == "Conv3d_1a_7x7"
  assert blocks["stages"][-1]["output_shape"][:2] == [1, 4]  # 16 frames / 4 in time.
  assert trunk["matmul_gflops"] > 0 and trunk["process_peak_mib"] > 0


def test_unknown_worker_is_a_usage_error():
  with pytest.raises(app.UsageError, match="unknown worker 'nope'"):
    paper_size_forward.run_worker("nope", TINY_CONFIG, 1, None)
