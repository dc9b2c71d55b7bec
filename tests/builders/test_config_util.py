"""Pipeline config loading, placeholders and validation on every sample config."""

from pathlib import Path

from google.protobuf import text_format
import pytest

from ava_tx.builders import config_util
from ava_tx.builders import config_validation
from ava_tx.core import errors
from ava_tx.protos import action_transformer_pb2

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.config"))


def test_there_is_a_config_for_every_paper_setting():
  names = {p.name for p in CONFIGS}
  for expected in (
    "ava_tx_highres_64f_400.config",
    "ava_tx_lowres_64f_400.config",
    "ava_i3d_head_64f_400.config",
    "ava_tx_plus_i3d_64f_400.config",
    "ava_tx_highres_gtboxes_64f_400.config",
    "ava_i3d_head_gtboxes_64f_400.config",
    "ava_tx_highres_r64_64f_400.config",
    "tiny_synthetic_cpu.config",
  ):
    assert expected in names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_sample_config_loads_validates_and_round_trips(path, tmp_path):
  config = config_util.load_pipeline_config(str(path))
  config_validation.validate_pipeline_config(config)
  saved = config_util.save_pipeline_config(config, str(tmp_path))
  assert config_util.load_pipeline_config(saved) == config
  if path.name.endswith("_cpu.config"):  # The CPU configs run as they are, on workspace/ paths.
    assert config_util.find_placeholders(config) == []
  else:
    # Every user path of a paper config is marked for the user to fill in.
    placeholders = config_util.find_placeholders(config)
    assert "train_input_reader.input_path" in placeholders
    assert "model.action_transformer.trunk.fine_tune_checkpoint" in placeholders


def test_paper_config_values():
  config = config_util.load_pipeline_config(str(REPO / "configs" / "ava_tx_highres_64f_400.config"))
  model = config.model.action_transformer
  assert (model.num_frames, model.image_height, model.image_width) == (64, 400, 400)
  assert model.trunk.final_endpoint == "Mixed_4f" and model.trunk.freeze_batch_norm
  assert model.rpn.num_proposals_train == model.rpn.num_proposals_test == 300
  assert (model.roi_pooling.crop_size, model.roi_pooling.pooled_size) == (14, 7)
  tx = model.action_transformer_head
  assert (tx.num_heads, tx.num_layers, tx.hidden_size) == (2, 3, 128)
  assert tx.dropout_rate == pytest.approx(0.3)
  assert tx.query_preprocessor == action_transformer_pb2.ActionTransformerHead.HIGH_RES
  train = config.train_config
  assert (train.batch_size, train.num_steps, train.warmup_steps) == (30, 500000, 1000)
  assert train.base_learning_rate == pytest.approx(0.1)
  assert train.warmup_learning_rate == pytest.approx(0.01)


def test_parse_error_names_the_file_and_line(tmp_path):
  path = tmp_path / "broken.config"
  path.write_text("model {\n  action_transformer {\n    num_framez: 8\n  }\n}\n")
  with pytest.raises(ValueError, match=r"broken\.config.*3:"):
    config_util.load_pipeline_config(str(path))


def test_missing_file_is_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="nowhere.config"):
    config_util.load_pipeline_config(str(tmp_path / "nowhere.config"))


def _tiny():
  return config_util.load_pipeline_config(str(REPO / "configs" / "tiny_synthetic_cpu.config"))


@pytest.mark.parametrize(
  "edit, field",
  [
    ("model.action_transformer.num_frames = 12", "model.action_transformer.num_frames"),
    ("model.action_transformer.image_height = 100", "model.action_transformer.image_height"),
    (
      "model.action_transformer.trunk.final_endpoint = 'Mixed_9z'",
      "model.action_transformer.trunk.final_endpoint",
    ),
    (
      "model.action_transformer.rpn.nms_iou_threshold = 1.5",
      "model.action_transformer.rpn.nms_iou_threshold",
    ),
    (
      "model.action_transformer.rpn.negative_iou_threshold = 0.8",
      "model.action_transformer.rpn.negative_iou_threshold",
    ),
    (
      "model.action_transformer.roi_pooling.crop_size = 15",
      "model.action_transformer.roi_pooling.crop_size",
    ),
    (
      "model.action_transformer.action_transformer_head.num_heads = 0",
      "model.action_transformer.action_transformer_head.num_heads",
    ),
    ("model.action_transformer.use_rpn = False", "model.action_transformer.use_rpn"),
    (
      "model.action_transformer.trunk.fine_tune_checkpoint = '/ckpt'",
      "model.action_transformer.trunk.depth_multiplier",
    ),
    ("train_config.warmup_steps = 10**9", "train_config.warmup_steps"),
    ("train_config.momentum = 1.0", "train_config.momentum"),
    ("train_config.adam_beta2 = 1.0", "train_config.adam_beta2"),
    ("train_config.decoupled_weight_decay = -0.1", "train_config.decoupled_weight_decay"),
  ],
)
def test_invalid_or_contradictory_values_name_the_field(edit, field):
  config = _tiny()
  target, value = edit.split(" = ")
  obj = config
  *parents, leaf = target.split(".")
  for name in parents:
    obj = getattr(obj, name)
  setattr(obj, leaf, eval(value))  # pylint: disable=eval-used
  with pytest.raises(ValueError, match="^" + field.replace(".", r"\.") + ":"):
    config_validation.validate_pipeline_config(config)


def test_two_forms_of_weight_decay_are_contradictory():
  config = _tiny()
  config.train_config.weight_decay = 1e-5
  config.train_config.decoupled_weight_decay = 0.01
  with pytest.raises(
    ValueError,
    match=r"^train_config\.decoupled_weight_decay: and weight_decay "
    r"\(1e-05\) are both set",
  ):
    config_validation.validate_pipeline_config(config)


def test_head_settings_for_an_unused_head_are_contradictory():
  config = _tiny()
  model = config.model.action_transformer
  model.head_type = action_transformer_pb2.ActionTransformer.I3D
  model.trunk.final_endpoint = "Mixed_4f"
  with pytest.raises(ValueError, match=r"^model\.action_transformer\.action_transformer_head: set"):
    config_validation.validate_pipeline_config(config)


def test_i3d_head_needs_mixed_4f():
  text = text_format.MessageToString(_tiny())
  config = config_util.parse_pipeline_config(text)
  model = config.model.action_transformer
  model.ClearField("action_transformer_head")
  model.head_type = action_transformer_pb2.ActionTransformer.I3D
  model.trunk.final_endpoint = "Mixed_4e"
  with pytest.raises(
    ValueError, match=r"^model\.action_transformer\.trunk\.final_endpoint: must be Mixed_4f"
  ):
    config_validation.validate_pipeline_config(config)


@pytest.mark.parametrize(
  "old_fields, replacement",
  [
    ("use_external_proposals: true use_rpn: false", "PERSON_DETECTOR"),
    ("use_external_proposals: true", "RPN_AND_PERSON_DETECTOR"),
    ("use_groundtruth_boxes: true", "GROUNDTRUTH"),
    ("use_rpn: true", "RPN"),
  ],
)
def test_replaced_proposal_fields_name_their_replacement(tmp_path, old_fields, replacement):
  text = (
    (REPO / "configs" / "tiny_synthetic_cpu.config")
    .read_text()
    .replace("proposals: PERSON_DETECTOR", old_fields)
  )
  path = tmp_path / "old.config"
  path.write_text(text)
  config = config_util.load_pipeline_config(str(path))
  first = old_fields.split(":")[0]
  with pytest.raises(
    errors.InputError,
    match=rf"^model\.action_transformer\.{first}: replaced by `proposals`.*"
    rf"`proposals: {replacement}`",
  ):
    config_validation.validate_pipeline_config(config)


def test_one_meta_architecture_check_for_pipeline_and_model_messages():
  from ava_tx.builders import model_builder  # pylint: disable=import-outside-toplevel
  from ava_tx.protos import pipeline_pb2  # pylint: disable=import-outside-toplevel

  message = (
    r"^model: expected `action_transformer \{ \.\.\. \}` "
    r"\(the only meta-architecture\); got None$"
  )
  pipeline = pipeline_pb2.TrainEvalPipelineConfig()
  for check in (
    lambda: config_util.get_action_transformer_config(pipeline),
    lambda: config_util.get_action_transformer_config(pipeline.model),
    lambda: config_validation.validate_pipeline_config(pipeline),
    lambda: model_builder.build(pipeline.model),
  ):
    with pytest.raises(errors.InputError, match=message):
      check()
  pipeline.model.action_transformer.num_classes = 7
  assert config_util.get_action_transformer_config(pipeline).num_classes == 7
  assert config_util.get_action_transformer_config(pipeline.model).num_classes == 7


def test_unknown_trunk_endpoint_lists_the_trunks_endpoints():
  from ava_tx.trunks import i3d  # pylint: disable=import-outside-toplevel

  config = action_transformer_pb2.ActionTransformer()
  config.trunk.final_endpoint = "Mixed_9z"
  with pytest.raises(errors.InputError) as raised:
    config_validation.validate_action_transformer(config)
  assert str(raised.value) == (
    "model.action_transformer.trunk.final_endpoint: unknown I3D endpoint 'Mixed_9z'; "
    f"expected one of {', '.join(i3d.ENDPOINTS)}"
  )
  assert i3d.ENDPOINTS[0] == "Conv3d_1a_7x7" and i3d.ENDPOINTS[-1] == "Mixed_5c"
