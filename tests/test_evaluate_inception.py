"""The Inception path: real weights where present, one-line errors and the offline choice where not."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import torch_fidelity
from torch_fidelity.helpers import text_to_dtype

from wganbench.cli import main
from wganbench.data import load_dataset
from wganbench.evaluate import evaluate_run, inception
from wganbench.evaluate.extractor_choice import Target, resolve_extractor
from wganbench.evaluate.settings import resolve_settings
from wganbench.registry import ConfigError
from wganbench.rundir import RunDir

SIZE = 16


def real_weights() -> Path | None:
    """Inception weights on this machine: $WGANBENCH_INCEPTION_WEIGHTS or torch hub's cache."""
    configured = os.environ.get("WGANBENCH_INCEPTION_WEIGHTS")
    path = Path(configured) if configured else inception.hub_path()
    return path if path.is_file() else None


def make_run(path: Path, samples: np.ndarray) -> RunDir:
    run = RunDir(path)
    run.write_config({"dataset": "digits", "image_size": SIZE, "data_root": None, "seed": 0,
                      "objective": "wgan", "arch": "dcgan", "iterations": 10})
    run.write_samples(samples.astype(np.float32), 10)
    run.write_status("completed", 10)
    return run


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> mock.MagicMock:
    """No weights in torch hub's cache (an empty temporary one) and no network."""
    hub = tmp_path / "hub"
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    monkeypatch.setattr(inception, "_failed_downloads", {})
    refuse = mock.MagicMock(side_effect=urllib.error.URLError("network unreachable (test)"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    yield refuse
    torch.hub.set_dir(previous)


@pytest.mark.skipif(real_weights() is None, reason=(
    f"Inception weights not present ({inception.FILE_NAME} not in torch hub's cache and "
    "WGANBENCH_INCEPTION_WEIGHTS unset); on a machine that has them this test runs"))
def test_inception_scores_real_digits_far_better_than_noise(tmp_path: Path) -> None:
    weights = real_weights()
    data = load_dataset("digits", image_size=SIZE)
    run = make_run(tmp_path / "real", data.batch(64, seed=0, index=0).numpy())
    noise = make_run(tmp_path / "noise", np.random.default_rng(0).uniform(-1, 1, (64, 1, SIZE, SIZE)))
    settings = {"feature_extractor": "inception-v3-compat", "inception_weights": str(weights),
                "inception_download": False, "metrics": ["isc", "fid", "kid"], "reference_count": 64,
                "cache_dir": str(tmp_path / "cache"), "kid_subsets": 10, "curves": False}
    real, bad = evaluate_run(run.path, settings), evaluate_run(noise.path, settings)
    assert real["fid"]["value"] < bad["fid"]["value"] and real["kid"]["value"] < bad["kid"]["value"]
    protocol = real["fid"]["protocol"]
    assert protocol["feature_extractor"] == "inception-v3-compat" and protocol["feature_layers"]["fid"] == "2048"
    assert protocol["weights_sha256"] == inception.sha256_file(weights)


def test_missing_inception_weights_fail_in_one_line_naming_the_offline_choice(
        offline: mock.MagicMock, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = make_run(tmp_path / "run", load_dataset("digits", image_size=SIZE).batch(32, 0, 0).numpy())
    run.metrics.write_text('{"fid": {"value": 1.0, "available": true, "protocol": {}}}\n')
    before = run.metrics.read_text()
    settings = {"feature_extractor": "inception-v3-compat", "metrics": ["fid"], "cache_dir": str(tmp_path / "cache"),
                "inception_download": True}
    with pytest.raises(ConfigError) as caught:
        evaluate_run(run.path, settings)
    message = str(caught.value)
    assert "\n" not in message and "Inception weights are not available" in message
    assert "network unreachable" in message and "feature_extractor=wganbench-classifier" in message
    assert run.metrics.read_text() == before  # nothing already computed is lost
    with pytest.raises(SystemExit) as exited:  # the CLI: exit code 2 and one line on stderr
        main(["evaluate", str(run.path), "--set", "feature_extractor=inception-v3-compat", "--set", "metrics=[fid]",
              "--set", "inception_download=true"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1 and offline.call_count == 1  # asked the network once


def test_no_download_when_it_is_switched_off(offline: mock.MagicMock) -> None:
    settings = resolve_settings({"feature_extractor": "inception-v3-compat", "inception_download": False})
    with pytest.raises(ConfigError, match="inception_download is false"):
        resolve_extractor(Target("digits", SIZE, None, settings))
    assert offline.call_count == 0


def test_auto_takes_the_classifier_offline_and_inception_where_weights_are(
        offline: mock.MagicMock, tmp_path: Path) -> None:
    settings = resolve_settings({"extractor_dir": str(tmp_path / "extractors"), "float64": True})
    chosen = resolve_extractor(Target("digits", SIZE, None, settings))
    assert chosen.name == "wganbench-classifier" and chosen.internal_dtype == "float64"
    fake = tmp_path / "inception.pth"
    fake.write_bytes(b"weights")
    chosen = resolve_extractor(Target("digits", SIZE, None, {**settings, "inception_weights": str(fake)}))
    assert chosen.name == "inception-v3-compat" and chosen.weights_path == fake
    assert chosen.weights_sha256 == inception.sha256_file(fake)
    # what torch-fidelity really runs Inception in is recorded, not what was asked for
    assert chosen.requested_dtype == "float64"
    assert chosen.internal_dtype == str(text_to_dtype("float64", "float32")).removeprefix("torch.")
    with pytest.raises(ConfigError, match="auto found none"):
        resolve_extractor(Target("swissroll", SIZE, None, settings))


def test_inception_gets_uint8_rgb_images_and_its_weights_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "inception.pth"
    fake.write_bytes(b"weights")
    seen: dict = {}

    def calculate_metrics(**kwargs: object) -> dict:
        seen.update(kwargs)
        return {torch_fidelity.KEY_METRIC_FID: 1.5}

    monkeypatch.setattr(torch_fidelity, "calculate_metrics", calculate_metrics)
    run = make_run(tmp_path / "run", load_dataset("digits", image_size=SIZE).batch(40, 0, 0).numpy())
    metrics = evaluate_run(run.path, {"feature_extractor": "inception-v3-compat", "inception_weights": str(fake),
                                      "metrics": ["fid"], "cache_dir": str(tmp_path / "cache")})
    assert metrics["fid"]["value"] == 1.5 and metrics["fid"]["protocol"]["feature_layers"] == {"fid": "2048"}
    assert seen["feature_extractor"] == "inception-v3-compat" and seen["feature_extractor_weights_path"] == str(fake)
    generated, reference = seen["input1"][0], seen["input2"][0]
    assert generated.dtype == reference.dtype == torch.uint8 and generated.shape == (3, SIZE, SIZE)
    assert torch.equal(generated[0], generated[1])  # grey repeated into three channels
    assert inception.sha256_file(fake)[:16] in seen["input2_cache_name"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="runs Inception at 299x299: needs a GPU to be quick")
def test_inception_runs_end_to_end_with_stand_in_weights(tmp_path: Path) -> None:
    """torch-fidelity's own Inception, loaded from a file through our settings (random weights)."""
    import torch_fidelity.feature_extractor_inceptionv3 as module

    with mock.patch.object(module, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(module.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None):
        network = module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(network.state_dict(), tmp_path / "stand-in.pth")
    run = make_run(tmp_path / "run", load_dataset("digits", image_size=SIZE).batch(64, 0, 0).numpy())
    metrics = evaluate_run(run.path, {"feature_extractor": "inception-v3-compat", "reference_count": 64,
                                      "inception_weights": str(tmp_path / "stand-in.pth"), "kid_subsets": 10,
                                      "metrics": ["isc", "fid", "kid", "prc"], "cache_dir": str(tmp_path / "cache")})
    assert all(metrics[name]["available"] for name in ("isc", "fid", "kid", "precision"))
    assert metrics["fid"]["protocol"]["weights_file"] == "stand-in.pth"
