"""The rows of the head comparison (the paper's Tables 1-3) as overrides of one base config.

Every row starts from the same base pipeline config (same trunk, sizes, data, budget and
seeds); a row changes only the head and where its boxes come from. Like model_lib, this module
sits above the builders and edits pipeline protos; the proposal mode is set in one function,
`set_proposal_mode`, the only place that knows how the config spells it.
"""

import dataclasses
from typing import Callable

from ava_tx.core import errors
from ava_tx.protos import action_transformer_pb2

_AT = action_transformer_pb2.ActionTransformer
_TX = action_transformer_pb2.ActionTransformerHead

GROUNDTRUTH = "groundtruth"
"""Proposal mode: the ground-truth person boxes are the proposals (paper Section 4.2)."""
DETECTOR = "detector"
"""Proposal mode: the person-detector boxes stored in the TFRecords (AVA's released boxes)."""
RPN = "rpn"
"""Proposal mode: the model's own RPN (the paper's; from scratch it ranks people poorly)."""
PROPOSAL_MODES = (GROUNDTRUTH, DETECTOR, RPN)


_PROPOSAL_SOURCES = {GROUNDTRUTH: _AT.GROUNDTRUTH, DETECTOR: _AT.PERSON_DETECTOR, RPN: _AT.RPN}


def set_proposal_mode(model_config, mode: str) -> None:
  """Sets where an `ActionTransformer` config takes its proposals from (one of PROPOSAL_MODES)."""
  if mode not in PROPOSAL_MODES:
    raise errors.InputError(f"--proposals: expected one of {PROPOSAL_MODES}, got {mode!r}")
  model_config.proposals = _PROPOSAL_SOURCES[mode]


@dataclasses.dataclass(frozen=True)
class Row:
  """One configuration of the comparison.

  Attributes:
    name: identifier used by --rows and as the row's directory name.
    table: the paper's table it reproduces ("Table 1" ground-truth boxes, "Table 3" proposals).
    label: what the markdown table shows.
    groundtruth_boxes: True: ground-truth boxes are the proposals; False: the comparison's
      proposal mode (--proposals).
    set_head: edits the ActionTransformer config's head fields.
  """

  name: str
  table: str
  label: str
  groundtruth_boxes: bool
  set_head: Callable[..., None]


def _i3d_head(model_config) -> None:
  model_config.head_type = _AT.I3D
  model_config.ClearField("action_transformer_head")
  model_config.i3d_head.SetInParent()  # The I3D head's settings, the base's or the defaults.


def _i3d_head_from_random(model_config) -> None:
  _i3d_head(model_config)
  model_config.i3d_head.initialize_from_fine_tune_checkpoint = False


def _tx(query_preprocessor, *, location_embedding=True, layers_heads=None, with_i3d=False):
  """Head setter of an Action Transformer row; layers_heads=(layers, heads) or the base's."""

  def set_head(model_config) -> None:
    model_config.head_type = _AT.TX_I3D if with_i3d else _AT.ACTION_TRANSFORMER
    if with_i3d:
      model_config.i3d_head.SetInParent()
    else:
      model_config.ClearField("i3d_head")
    tx = model_config.action_transformer_head
    tx.query_preprocessor = query_preprocessor
    tx.use_location_embedding = location_embedding
    if layers_heads is not None:
      tx.num_layers, tx.num_heads = layers_heads

  return set_head


PAPER_ROWS = (
  Row("gt_i3d", "Table 1", "I3D head", True, _i3d_head),
  Row("gt_tx_lowres", "Table 1", "Tx LowRes", True, _tx(_TX.LOW_RES)),
  Row(
    "gt_tx_highres",
    "Table 1",
    "Tx HighRes (3 layers x 2 heads)",
    True,
    _tx(_TX.HIGH_RES, layers_heads=(3, 2)),
  ),
  Row(
    "gt_tx_highres_noloc",
    "Table 1",
    "Tx HighRes, no location embedding",
    True,
    _tx(_TX.HIGH_RES, location_embedding=False, layers_heads=(3, 2)),
  ),
  Row(
    "gt_tx_highres_1x1",
    "Table 1",
    "Tx HighRes (1 layer x 1 head)",
    True,
    _tx(_TX.HIGH_RES, layers_heads=(1, 1)),
  ),
  Row("prop_i3d", "Table 3", "I3D head", False, _i3d_head),
  Row(
    "prop_tx_highres",
    "Table 3",
    "Tx HighRes (3 layers x 2 heads)",
    False,
    _tx(_TX.HIGH_RES, layers_heads=(3, 2)),
  ),
  Row(
    "prop_tx_i3d",
    "Table 3",
    "Tx+I3D (I3D head regresses)",
    False,
    _tx(_TX.HIGH_RES, layers_heads=(3, 2), with_i3d=True),
  ),
)
ABLATION_ROWS = (
  Row(
    "gt_i3d_random_mixed5",
    "Table 1",
    "I3D head, Mixed_5 from random weights",
    True,
    _i3d_head_from_random,
  ),
)
"""Rows that explain a result rather than reproduce one: the I3D head's Mixed_5b/5c normally
start from the Kinetics checkpoint like the trunk (the paper), while the Tx head starts from
random weights; this row separates that pretraining from the head's architecture. Run only
when --rows names them."""
ROWS = PAPER_ROWS + ABLATION_ROWS
ROWS_BY_NAME = {row.name: row for row in ROWS}
KEY_ROWS = ("gt_i3d", "gt_tx_highres")
"""The pair the seed spread is reported for (the paper's central Table 1 comparison)."""


def select_rows(names) -> list:
  """The rows named (in ROWS order), or PAPER_ROWS; InputError naming an unknown one."""
  names = list(names or [])
  unknown = [n for n in names if n not in ROWS_BY_NAME]
  if unknown:
    raise errors.InputError(f"--rows: unknown row(s) {unknown}; known: {', '.join(ROWS_BY_NAME)}")
  return [row for row in ROWS if row.name in names] if names else list(PAPER_ROWS)


HEAD_SIZES = ("paper", "base")
"""--head_sizes: "paper" gives every Tx row the paper's head sizes; "base" keeps the base's."""

_SIZE_FIELDS = (
  "hidden_size",
  "dropout_rate",
  "high_res_reduced_channels",
  "ffn_hidden_size",
  "location_embedding_size",
  "location_embedding_hidden_size",
)


def check_head_sizes(head_sizes: str) -> None:
  """InputError unless head_sizes is one of HEAD_SIZES."""
  if head_sizes not in HEAD_SIZES:
    raise errors.InputError(f"--head_sizes: expected one of {HEAD_SIZES}, got {head_sizes!r}")


def set_head_sizes(model_config, head_sizes: str) -> None:
  """Sets the Action Transformer head's sizes of an `ActionTransformer` config.

  "paper": every size field (D, dropout, HighRes channels, FFN, location embedding) cleared to
  the proto's default, which is the paper's (D=128, dropout 0.3; as
  configs/ava_tx_highres_64f_400.config); the query preprocessor, layers, heads and location
  embedding switch stay the base's (the rows set them). "base": unchanged.
  """
  check_head_sizes(head_sizes)
  if head_sizes == "paper":
    for name in _SIZE_FIELDS:
      model_config.action_transformer_head.ClearField(name)


def apply_row(pipeline_config, row: Row, *, proposals: str) -> None:
  """Edits a copy of the base `TrainEvalPipelineConfig` in place into `row`'s config."""
  model_config = pipeline_config.model.action_transformer
  row.set_head(model_config)
  set_proposal_mode(model_config, GROUNDTRUTH if row.groundtruth_boxes else proposals)
