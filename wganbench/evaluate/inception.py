"""torch-fidelity's Inception weights: found on disk, or fetched once, or a one-line error.

wganbench fetches the file itself (with a timeout, into torch hub's cache where torch-fidelity
would put it) and hands torch-fidelity the path, so a machine without network fails at once with
a message that names the offline extractor, instead of hanging or failing deep inside a metric.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import urllib.request
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch.hub
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from ..registry import ConfigError
from ..rundir import atomic_write

FILE_NAME = URL_INCEPTION_V3.rsplit("/", 1)[-1]
HASH_PREFIX = re.search(r"-([0-9a-f]{8,})\.pth$", FILE_NAME).group(1)  # type: ignore[union-attr]
OFFLINE_HINT = ("set evaluation.feature_extractor=wganbench-classifier (the offline extractor), or put "
                f"{FILE_NAME} in {{hub}} or point evaluation.inception_weights at it")

_failed_downloads: dict[str, str] = {}  # url -> reason, so one process asks the network once


class WeightsUnavailable(ConfigError):
    """Inception was asked for and its weights cannot be had here."""


def hub_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / FILE_NAME


def _unavailable(reason: str) -> WeightsUnavailable:
    hint = OFFLINE_HINT.replace("{hub}", str(hub_path().parent))
    return WeightsUnavailable(f"feature extractor 'inception-v3-compat': Inception weights are not available "
                              f"({reason}); {hint}")


def sha256_file(path: Path) -> str:
    stat = path.stat()
    return _sha256_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: Path, timeout: float) -> None:
    """Fetch ``url`` to ``target`` atomically, checking the SHA-256 prefix in the file name."""
    if url in _failed_downloads:
        raise _unavailable(_failed_downloads[url])
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            atomic_write(target, lambda handle: shutil.copyfileobj(response, handle, 1 << 20))
    except OSError as exc:  # URLError, timeouts, refused connections, disk errors
        reason = str(getattr(exc, "reason", exc)) or type(exc).__name__
        _failed_downloads[url] = f"cannot download {url}: {reason}"
        raise _unavailable(_failed_downloads[url]) from None
    if not sha256_file(target).startswith(HASH_PREFIX):
        target.unlink(missing_ok=True)
        _failed_downloads[url] = f"the file downloaded from {url} fails its hash check"
        raise _unavailable(_failed_downloads[url])


def inception_weights(settings: Mapping[str, Any]) -> Path:
    """The weights file: the configured path, else torch hub's cache, else a download when allowed."""
    configured = settings.get("inception_weights")
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise _unavailable(f"evaluation.inception_weights {path} does not exist")
        return path
    path = hub_path()
    if path.is_file():
        return path
    if not settings.get("inception_download", False):
        raise _unavailable(f"{FILE_NAME} is not in {path.parent} and evaluation.inception_download is false")
    download(URL_INCEPTION_V3, path, float(settings.get("download_timeout", 20)))
    return path
