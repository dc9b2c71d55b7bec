"""The comparison's rows: each is a valid config differing from the base only in head and boxes."""

import pytest

from ava_tx.builders import config_util
from ava_tx.builders import config_validation
from ava_tx.core import errors
from ava_tx.experiments import comparison_rows as rows_lib
from ava_tx.protos import action_transformer_pb2
from tests.experiments import REPO

_AT = action_transformer_pb2.ActionTransformer
_TX = action_transformer_pb2.ActionTransformerHead


def _base():
  return config_util.load_pipeline_config(str(REPO / "configs" / "tiny_synthetic_cpu.config"))


def _row_config(name, proposals=rows_lib.DETECTOR):
  config = _base()
  rows_lib.apply_row(config, rows_lib.ROWS_BY_NAME[name], proposals=proposals)
  config_validation.validate_pipeline_config(config)
  return config.model.action_transformer


@pytest.mark.parametrize("row", [row.name for row in rows_lib.ROWS])
def test_every_row_is_valid_and_changes_only_head_and_proposals(row):
  base = _base()
  config = _base()
  rows_lib.apply_row(config, rows_lib.ROWS_BY_NAME[row], proposals=rows_lib.DETECTOR)
  config_validation.validate_pipeline_config(config)
  for field in ("head_type", "action_transformer_head", "i3d_head", "proposals"):
    for message in (config.model.action_transformer, base.model.action_transformer):
      message.ClearField(field)
  assert config == base


def test_heads_of_the_rows():
  assert _row_config("gt_i3d").head_type == _AT.I3D
  assert not _row_config("gt_i3d").HasField("action_transformer_head")
  lowres = _row_config("gt_tx_lowres")
  assert (lowres.head_type, lowres.action_transformer_head.query_preprocessor) == (
    _AT.ACTION_TRANSFORMER,
    _TX.LOW_RES,
  )
  highres = _row_config("gt_tx_highres").action_transformer_head
  assert (
    highres.query_preprocessor,
    highres.num_layers,
    highres.num_heads,
    highres.use_location_embedding,
  ) == (_TX.HIGH_RES, 3, 2, True)
  assert not _row_config("gt_tx_highres_noloc").action_transformer_head.use_location_embedding
  one = _row_config("gt_tx_highres_1x1").action_transformer_head
  assert (one.num_layers, one.num_heads) == (1, 1)
  tx_i3d = _row_config("prop_tx_i3d")
  assert tx_i3d.head_type == _AT.TX_I3D and tx_i3d.HasField("i3d_head")


@pytest.mark.parametrize(
  "row, proposals, expected",
  [
    ("gt_i3d", rows_lib.DETECTOR, _AT.GROUNDTRUTH),
    ("prop_i3d", rows_lib.DETECTOR, _AT.PERSON_DETECTOR),
    ("prop_tx_highres", rows_lib.RPN, _AT.RPN),
  ],
)
def test_proposal_modes(row, proposals, expected):
  assert _row_config(row, proposals).proposals == expected


def test_unknown_proposal_mode_and_row():
  with pytest.raises(errors.InputError, match="--proposals"):
    rows_lib.set_proposal_mode(_base().model.action_transformer, "oracle")
  with pytest.raises(errors.InputError, match=r"--rows: unknown row\(s\) \['gt_nope'\]"):
    rows_lib.select_rows(["gt_i3d", "gt_nope"])


def test_select_rows_keeps_table_order():
  names = [row.name for row in rows_lib.select_rows(["prop_i3d", "gt_i3d"])]
  assert names == ["gt_i3d", "prop_i3d"]
  assert rows_lib.select_rows([]) == list(rows_lib.PAPER_ROWS) and len(rows_lib.PAPER_ROWS) == 8
  ablation = rows_lib.select_rows(["gt_i3d_random_mixed5"])
  assert [row.name for row in ablation] == ["gt_i3d_random_mixed5"]


def test_ablation_row_leaves_the_i3d_head_at_random_weights():
  random5 = _row_config("gt_i3d_random_mixed5")
  assert random5.head_type == _AT.I3D
  assert not random5.i3d_head.initialize_from_fine_tune_checkpoint
  assert _row_config("gt_i3d").i3d_head.initialize_from_fine_tune_checkpoint


def test_head_sizes_paper_changes_only_the_tx_sizes_and_base_nothing():
  base = config_util.load_pipeline_config(str(REPO / "configs" / "tiny_kinetics_demo_cpu.config"))
  kept = _row_config_from(base, "base")
  assert kept == base.model.action_transformer
  paper = _row_config_from(base, "paper")
  tx, before = paper.action_transformer_head, base.model.action_transformer.action_transformer_head
  assert (before.hidden_size, before.ffn_hidden_size, before.high_res_reduced_channels) == (
    32,
    32,
    16,
  )
  assert (tx.hidden_size, tx.ffn_hidden_size, tx.high_res_reduced_channels) == (128, 512, 128)
  for field in ("query_preprocessor", "num_layers", "num_heads", "use_location_embedding"):
    assert getattr(tx, field) == getattr(before, field), field
  paper.ClearField("action_transformer_head")
  other = type(paper)()
  other.CopyFrom(base.model.action_transformer)
  other.ClearField("action_transformer_head")
  assert paper == other
  with pytest.raises(errors.InputError, match=r"--head_sizes: expected one of"):
    rows_lib.set_head_sizes(other, "huge")


def _row_config_from(pipeline_config, head_sizes):
  model_config = type(pipeline_config.model.action_transformer)()
  model_config.CopyFrom(pipeline_config.model.action_transformer)
  rows_lib.set_head_sizes(model_config, head_sizes)
  return model_config
