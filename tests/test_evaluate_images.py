"""Image metrics with the offline classifier: sanity on data that ships, modes, protocol, divergence."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity

from wganbench.cli import main
from wganbench.data import load_dataset
from wganbench.evaluate import evaluate_run, values
from wganbench.evaluate.classifier.files import extractor_path, load_extractor, train_extractor
from wganbench.evaluate.extractor_choice import ResolvedExtractor
from wganbench.evaluate.fidelity import ReferenceSet, fidelity_metrics, to_uint8_rgb
from wganbench.evaluate.settings import resolve_settings
from wganbench.evaluate.classifier.training import TrainingSettings, train_classifier
from wganbench.registry import ConfigError
from wganbench.rundir import RunDir

from conftest import CLASSIFIER_SIZE

SIZE = CLASSIFIER_SIZE


@pytest.fixture(scope="module")
def stacked_cli_report(classifier_dir: Path) -> dict:
    """A stacked-digits classifier trained beside the session's digits one by `wganbench extractor
    train`; the report it printed."""
    out = extractor_path(classifier_dir, "stacked-digits", SIZE)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(["extractor", "train", "--dataset", "stacked-digits", "--image-size", str(SIZE),
                     "--out", str(out)]) == 0
    return json.loads(printed.getvalue())


@pytest.fixture(scope="module")
def workspace(classifier_dir: Path, stacked_cli_report: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Evaluation settings over both classifiers and a fidelity cache."""
    return {"extractor_dir": str(classifier_dir), "cache_dir": str(tmp_path_factory.mktemp("cache")),
            "feature_extractor": "wganbench-classifier", "device": "cpu", "train_extractor": False,
            "kid_subsets": 10}  # KID's kernel sums dominate CPU time; 10 subsets keep tests quick


def make_run(path: Path, dataset: str, samples: np.ndarray | torch.Tensor, iteration: int = 500,
             status: str = "completed", reason: str | None = None) -> RunDir:
    run = RunDir(path)
    run.write_config({"dataset": dataset, "image_size": SIZE, "data_root": None, "seed": 0,
                      "objective": "wgan", "arch": "dcgan", "iterations": iteration})
    run.write_samples(np.asarray(samples, dtype=np.float32), iteration)
    run.write_status(status, iteration, reason)
    return run


def test_classifier_file_is_accurate_versioned_and_verified(workspace: dict, tmp_path: Path) -> None:
    path = extractor_path(workspace["extractor_dir"], "digits", SIZE)
    assert path.name == f"digits-{SIZE}px-v1.pt"
    extractor = load_extractor(path)
    assert extractor.info["class_test_accuracy"] >= 0.97  # 360 held-out digits
    assert extractor.num_modes == 10 and len(extractor.sha256) == 64
    stacked = load_extractor(extractor_path(workspace["extractor_dir"], "stacked-digits", SIZE))
    assert stacked.num_modes == 1000 and stacked.info["mode_test_accuracy"] >= 0.9  # three digits right
    content = torch.load(path, weights_only=True)
    content["state_dict"]["head.bias"] += 1e-3  # a changed weight no longer matches the recorded hash
    torch.save(content, tmp_path / "tampered.pt")
    with pytest.raises(ConfigError, match="hash check"):
        load_extractor(tmp_path / "tampered.pt")


def test_classifier_training_is_deterministic() -> None:
    data = load_dataset("digits", image_size=SIZE)
    images, labels = data.splits["train"][0][:256], data.splits["train"][1][:256]
    quick = TrainingSettings(epochs=1)
    first, _ = train_classifier(images, labels, 10, SIZE, quick)
    second, _ = train_classifier(images, labels, 10, SIZE, quick)
    other, _ = train_classifier(images, labels, 10, SIZE, TrainingSettings(epochs=1, seed=1))
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name
    assert not torch.equal(first.state_dict()["head.weight"], other.state_dict()["head.weight"])


def test_fid_and_kid_of_real_halves_are_near_zero_and_far_below_noise_and_one_image(workspace: dict) -> None:
    data = load_dataset("digits", image_size=SIZE)
    everything = torch.cat([data.splits["train"][0], data.splits["test"][0]])
    order = torch.randperm(len(everything), generator=torch.Generator().manual_seed(0))
    half_a, half_b = everything[order[:898]], everything[order[898:]]
    extractor = load_extractor(extractor_path(workspace["extractor_dir"], "digits", SIZE))
    resolved = ResolvedExtractor("wganbench-classifier", extractor.path, extractor.sha256, "float32", "float32")
    reference = ReferenceSet(to_uint8_rgb(half_b), "digits", "half-b", SIZE, 0)
    settings = resolve_settings(workspace)
    noise = torch.rand(898, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1
    candidates = {"real": half_a, "noise": noise, "one image": half_a[:1].expand(898, -1, -1, -1)}
    scores = {name: fidelity_metrics(images, reference, resolved, ["fid", "kid"], settings, cuda=False)[0]
              for name, images in candidates.items()}
    print({name: {k: round(v, 4) for k, v in found.items()} for name, found in scores.items()})
    real = scores["real"]
    assert real["fid"] < 0.5 and abs(real["kid"]) < 0.01
    for bad in ("noise", "one image"):
        assert scores[bad]["fid"] > 30 * real["fid"] and scores[bad]["fid"] > 5
        assert scores[bad]["kid"] > 100 * abs(real["kid"]) and scores[bad]["kid"] > 0.5


def test_a_one_class_generator_covers_one_mode(workspace: dict, tmp_path: Path) -> None:
    data = load_dataset("digits", image_size=SIZE)
    images, labels = data.splits["train"]
    run = make_run(tmp_path / "run", "digits", images[labels == 3][:150])
    # a mode needs 3 samples, so one digit the classifier gets wrong does not count as a second mode
    metrics = evaluate_run(run.path, {**workspace, "metrics": ["modes"], "mode_min_count": 3})
    assert metrics["modes_covered"]["value"] == 1
    share_of_threes = float((data.splits["test"][1] == 3).float().mean())
    assert metrics["mode_kl"]["value"] == pytest.approx(-math.log(share_of_threes), rel=0.05)
    assert metrics["modes_covered"]["protocol"]["reference_modes_covered"] == 10
    assert set(metrics) & {"fid", "isc"} == set()  # only what was asked for


def test_real_stacked_digits_cover_at_least_95_percent_of_the_modes(workspace: dict, tmp_path: Path) -> None:
    data = load_dataset("stacked-digits", image_size=SIZE)
    # 5,000 draws over 1,000 near-equally likely modes leave each one empty with chance ~e^-5
    run = make_run(tmp_path / "run", "stacked-digits", data.batch(5000, seed=0, index=0))
    metrics = evaluate_run(run.path, {**workspace, "metrics": ["modes"], "reference_count": 2000})
    print("stacked-digits modes covered by 5,000 real images:", metrics["modes_covered"]["value"])
    assert metrics["modes_covered"]["value"] >= 950
    # the plug-in KL of 5,000 draws over 1,000 modes is biased up by about (1000 - 1) / (2 * 5000)
    assert metrics["mode_kl"]["value"] < 0.25


def test_metrics_record_their_protocol_and_repeat_exactly(workspace: dict, tmp_path: Path) -> None:
    data = load_dataset("digits", image_size=SIZE)
    run = make_run(tmp_path / "run", "digits", data.batch(400, seed=1, index=0), iteration=700)
    run.write_samples(np.random.default_rng(0).uniform(-1, 1, (400, 1, SIZE, SIZE)).astype(np.float32), 100,
                      run.snapshot_path(100))
    settings = {**workspace, "kid_subset_size": 200, "generated_count": 300}
    first = evaluate_run(run.path, settings)
    text = run.metrics.read_text()
    assert evaluate_run(run.path, settings) == first and run.metrics.read_text() == text  # cached reference now
    protocol = first["fid"]["protocol"]
    extractor = load_extractor(extractor_path(workspace["extractor_dir"], "digits", SIZE))
    assert protocol["feature_extractor"] == "wganbench-classifier"
    assert protocol["weights_sha256"] == extractor.sha256 and protocol["weights_file"] == extractor.path.name
    assert protocol["library_version"] == torch_fidelity.__version__
    assert protocol["reference"]["split"] == "test" and protocol["reference"]["count"] == 360
    assert protocol["generated_count"] == 300 and protocol["iteration"] == 700
    assert protocol["kid_subset_size"] == 200 and protocol["internal_dtype"] == "float32"
    assert protocol["resize"].startswith("area averaging to the classifier's resolution")
    found = values(first)
    assert set(found) >= {"isc", "fid", "kid", "precision", "recall", "modes_covered", "mode_kl"}
    assert found["modes_covered"] == 10 and found["isc"] > 5
    curve = first["curves"][0]
    assert curve["iteration"] == 100 and curve["fid"]["value"] > 10 * found["fid"]  # noise at iteration 100
    cached = sorted(p.name for p in Path(workspace["cache_dir"]).iterdir())
    assert any(protocol["reference"]["sha256"][:16] in name and extractor.sha256[:16] in name for name in cached)


def test_a_changed_reference_or_dtype_gets_its_own_cache_entry(workspace: dict, tmp_path: Path) -> None:
    pixels = to_uint8_rgb(load_dataset("digits", image_size=SIZE).splits["test"][0])
    extractor = ResolvedExtractor("wganbench-classifier", Path("x.pt"), "ab" * 32, "float32", "float32")
    reference = ReferenceSet(pixels, "digits", "test", SIZE, 0)
    changed = pixels.clone()
    changed[0, :, 0, 0] ^= 1
    assert ReferenceSet(changed, "digits", "test", SIZE, 0).cache_name(extractor) != reference.cache_name(extractor)
    as_float64 = ResolvedExtractor("wganbench-classifier", Path("x.pt"), "ab" * 32, "float64", "float64")
    assert reference.cache_name(as_float64) != reference.cache_name(extractor)
    run = make_run(tmp_path / "run", "digits", load_dataset("digits", image_size=SIZE).batch(200, 0, 0))
    narrow = {**workspace, "metrics": ["fid"], "cache_dir": str(tmp_path / "cache")}
    fid32 = evaluate_run(run.path, narrow)["fid"]
    fid64 = evaluate_run(run.path, {**narrow, "float64": True})["fid"]
    assert fid64["protocol"]["internal_dtype"] == "float64"
    assert fid64["value"] == pytest.approx(fid32["value"], rel=1e-3)
    assert len(list((tmp_path / "cache").glob("*stat-fid*"))) == 2


def test_a_diverged_run_gets_metrics_marked_unavailable(workspace: dict, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    samples = np.full((64, 1, SIZE, SIZE), np.nan, np.float32)
    run = make_run(tmp_path / "run", "digits", samples, iteration=42, status="diverged",
                   reason="critic output beyond 1e6")
    settings_file = tmp_path / "evaluation.yaml"
    settings_file.write_text(json.dumps({"evaluation": workspace}))
    assert main(["evaluate", str(run.path), "--settings-file", str(settings_file)]) == 0
    assert math.isnan(json.loads(capsys.readouterr().out)["metrics"]["fid"])
    metrics = json.loads(run.metrics.read_text())
    assert metrics["run_status"] == "diverged"
    names = ["isc", "isc_std", "fid", "kid", "kid_std", "precision", "recall", "f_score", "modes_covered", "mode_kl"]
    for name in names:
        assert metrics[name]["available"] is False and metrics[name]["value"] is None
        assert "64 of 64 samples are not finite" in metrics[name]["reason"]
        assert "critic output beyond 1e6" in metrics[name]["reason"]


def test_cli_trains_the_extractor_and_evaluates(workspace: dict, stacked_cli_report: dict, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    report = stacked_cli_report
    stacked = load_extractor(extractor_path(workspace["extractor_dir"], "stacked-digits", SIZE))
    assert report["mode_test_accuracy"] >= 0.9 and report["sha256"] == stacked.sha256
    run = make_run(tmp_path / "run", "digits", load_dataset("digits", image_size=SIZE).batch(100, 0, 0))
    args = ["evaluate", str(run.path), "--set", "metrics=[modes]", "--set", "train_extractor=false",
            "--set", f"extractor_dir={workspace['extractor_dir']}", "--set", "device=cpu"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["modes_covered"] == 10
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", str(run.path), "--set", "kid_subset_size=0"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_offline_classifier_needs_labelled_images() -> None:
    with pytest.raises(ConfigError, match="inception-v3-compat"):
        train_extractor("8gaussians", SIZE, "unused.pt")


def test_a_metric_of_its_own_count_equals_an_evaluation_at_that_count(workspace: dict, tmp_path: Path) -> None:
    """SN-GAN's protocol: IS on 50k samples, FID on 10k of them; here IS on all 400, the rest on 300."""
    data = load_dataset("digits", image_size=SIZE)
    run = make_run(tmp_path / "run", "digits", data.batch(400, seed=2, index=0))
    narrow = {**workspace, "metrics": ["isc", "fid"], "curves": False, "kid_subset_size": 200}
    mixed = evaluate_run(run.path, {**narrow, "generated_count": 300, "generated_count_for": {"isc": 400}})
    all_400 = evaluate_run(run.path, {**narrow, "generated_count": None})
    only_300 = evaluate_run(run.path, {**narrow, "generated_count": 300})
    assert mixed["isc"]["protocol"]["generated_count"] == 400 and mixed["fid"]["protocol"]["generated_count"] == 300
    assert mixed["isc"]["value"] == all_400["isc"]["value"] and mixed["fid"]["value"] == only_300["fid"]["value"]
    assert mixed["isc"]["value"] != only_300["isc"]["value"]
