"""FID, KID, IS and precision/recall from wganbench's torch-fidelity call against numpy/scipy
computations of the published formulas on the same classifier outputs, and the pixels that reach
the feature extractor checked one by one.

Formulas: FID, Heusel et al. 2017 eq. 6; KID, Bińkowski et al. 2018 (unbiased MMD² with the cubic
polynomial kernel k(x, y) = (x·y / d + 1)³); IS, Salimans et al. 2016; precision and recall,
Kynkäänniemi et al. 2019 (k-nearest-neighbour balls, k = 3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity
from scipy.spatial.distance import cdist

from wganbench.data import load_dataset
from wganbench.evaluate.classifier.files import extractor_path, load_extractor
from wganbench.evaluate.extractor_choice import ResolvedExtractor
from wganbench.evaluate.fidelity import ReferenceSet, fidelity_metrics, to_uint8_rgb
from wganbench.evaluate.settings import resolve_settings

from conftest import CLASSIFIER_SIZE as SIZE

COUNT = 300  # generated and reference alike: KID's one subset is then the whole set


@pytest.fixture(scope="module")
def setup(classifier_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    extractor = load_extractor(extractor_path(classifier_dir, "digits", SIZE))
    data = load_dataset("digits", image_size=SIZE)
    train_images, train_labels = data.splits["train"]
    test_images, test_labels = data.splits["test"]
    settings = resolve_settings({"feature_extractor": "wganbench-classifier", "device": "cpu",
                                 "extractor_dir": str(classifier_dir), "train_extractor": False,
                                 "cache_dir": str(tmp_path_factory.mktemp("cache")),
                                 "kid_subset_size": COUNT, "kid_subsets": 1, "isc_splits": 1})
    return {"extractor": extractor, "settings": settings,
            "resolved": ResolvedExtractor("wganbench-classifier", extractor.path, extractor.sha256,
                                          "float32", "float32"),
            "reference": ReferenceSet(to_uint8_rgb(test_images[:COUNT]), "digits", "test", SIZE, 0),
            "train": (train_images, train_labels), "test": (test_images[:COUNT], test_labels[:COUNT])}


def outputs(setup: dict, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's penultimate features and mode log-probabilities, in float64 numpy."""
    with torch.no_grad():
        features, log_p = setup["extractor"].model(to_uint8_rgb(images).float() / 127.5 - 1.0)
    return features.double().numpy(), log_p.double().numpy()


def measured(setup: dict, images: torch.Tensor, which: list[str]) -> dict[str, float]:
    return fidelity_metrics(images, setup["reference"], setup["resolved"], which, setup["settings"], cuda=False)[0]


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr sqrt(A B) from the eigenvalues of A B (real and non-negative for covariances), not the
    # matrix square root torch-fidelity takes
    root_trace = np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0.0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * root_trace)


def unbiased_mmd2(a: np.ndarray, b: np.ndarray) -> float:
    kernel = lambda x, y: (x @ y.T / x.shape[1] + 1.0) ** 3  # noqa: E731
    m = len(a)
    k_aa, k_bb, k_ab = kernel(a, a), kernel(b, b), kernel(a, b)
    return float((k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (m * (m - 1)) - 2 * k_ab.mean())


def inception_score(log_p: np.ndarray) -> float:
    p = np.exp(log_p - np.logaddexp.reduce(log_p, axis=1, keepdims=True))
    marginal = p.mean(0)
    return float(np.exp(np.mean(np.sum(p * (np.log(p + 1e-300) - np.log(marginal)), axis=1))))


def precision_recall(generated: np.ndarray, real: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Share of each set inside the union of the other's k-NN balls."""
    def radii(x: np.ndarray) -> np.ndarray:
        return np.sort(cdist(x, x), axis=1)[:, k]  # column 0 is the point itself

    precision = (cdist(generated, real) <= radii(real)[None, :]).any(axis=1).mean()
    recall = (cdist(real, generated) <= radii(generated)[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def mixed_digits(setup: dict) -> torch.Tensor:
    """A generator short of classes 5-9 and with its pixels slightly perturbed: a moderate FID."""
    images, labels = setup["train"]
    subset = images[labels < 5][:COUNT]
    noise = 0.15 * torch.randn(subset.shape, generator=torch.Generator().manual_seed(3))
    return (subset + noise).clamp(-1, 1)


def test_fid_and_kid_match_numpy_on_the_same_features(setup: dict) -> None:
    generated = mixed_digits(setup)
    found = measured(setup, generated, ["fid", "kid"])
    features, _ = outputs(setup, generated)
    reference, _ = outputs(setup, setup["test"][0])
    fid, kid = frechet(features, reference), unbiased_mmd2(features, reference)
    print(f"FID {found['fid']:.5f} vs numpy {fid:.5f}; KID {found['kid']:.6f} vs numpy {kid:.6f}")
    assert fid > 1.0  # a case where a wrong covariance or mean term would show
    assert found["fid"] == pytest.approx(fid, rel=1e-3)
    assert found["kid"] == pytest.approx(kid, rel=1e-3)


def test_inception_score_matches_numpy_and_has_its_limits(setup: dict) -> None:
    images, labels = setup["train"]
    threes = images[labels == 3][:150]
    one_class = measured(setup, threes, ["isc"])["isc"]
    real = measured(setup, setup["test"][0], ["isc"])["isc"]
    print(f"IS of one class {one_class:.4f}; of real test digits {real:.3f}")
    assert one_class == pytest.approx(inception_score(outputs(setup, threes)[1]), rel=1e-4)
    assert real == pytest.approx(inception_score(outputs(setup, setup["test"][0])[1]), rel=1e-4)
    assert 1.0 <= one_class < 1.2  # IS is 1 for a single confidently classified class
    assert real > 8.0  # and at most 10, the number of classes


def test_precision_recall_match_numpy_and_are_oriented(setup: dict) -> None:
    images, labels = setup["train"]
    real_like = images[:COUNT]
    collapsed = images[labels == 3]  # every sample realistic (143 of them), one class of ten
    results = {}
    for name, generated in (("real", real_like), ("collapsed", collapsed)):
        found = measured(setup, generated, ["prc"])
        expected = precision_recall(outputs(setup, generated)[0], outputs(setup, setup["test"][0])[0])
        results[name] = (found["precision"], found["recall"])
        print(name, "precision/recall", results[name], "numpy", expected)
        assert found["precision"] == pytest.approx(expected[0], abs=1.5 / COUNT)
        assert found["recall"] == pytest.approx(expected[1], abs=1.5 / COUNT)
    precision, recall = results["collapsed"]
    assert precision >= 0.85 and recall <= 0.2  # a collapsed generator: precise, with little recall
    assert min(results["real"]) >= 0.8


def density_and_coverage(generated: np.ndarray, real: np.ndarray, k: int) -> tuple[float, float]:
    """Naeem et al. 2020, eqs. 3-4: density = (1/kM) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))];
    coverage = (1/N) sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))], open balls as in prdc."""
    radii = np.sort(cdist(real, real), axis=1)[:, k]
    inside = cdist(real, generated) < radii[:, None]  # (real i, generated j)
    return float(inside.sum() / (k * len(generated))), float(inside.any(axis=1).mean())


def test_density_and_coverage_match_their_definitions_on_the_same_features(setup: dict) -> None:
    from wganbench.evaluate.density_coverage import density_coverage, image_features

    images, labels = setup["train"]
    k = setup["settings"]["dc_neighborhood"]
    found = {}
    for name, generated in (("real", images[:COUNT]), ("collapsed", images[labels == 3])):
        real, fake, layer = image_features(generated, setup["reference"], setup["resolved"], setup["settings"], False)
        np.testing.assert_allclose(fake, outputs(setup, generated)[0], rtol=1e-4, atol=1e-4)  # the same features
        found[name] = density_coverage(real, fake, k)
        expected = density_and_coverage(outputs(setup, generated)[0], outputs(setup, setup["test"][0])[0], k)
        print(name, found[name], "numpy", expected)
        assert found[name]["density"] == pytest.approx(expected[0], abs=2 / COUNT)
        assert found[name]["coverage"] == pytest.approx(expected[1], abs=2 / COUNT)
    # one class of ten, each sample realistic: it sits in real balls, but covers about a tenth of them
    assert found["collapsed"]["coverage"] < 0.2 < 0.8 < found["real"]["coverage"]


def test_pixels_reach_the_extractor_exactly_as_uint8(setup: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every uint8 value survives [-1, 1] and back; what torch-fidelity receives for the generated
    side is the independent numpy conversion, grey repeated to three channels."""
    levels = torch.arange(256, dtype=torch.float32)
    assert torch.equal(to_uint8_rgb((levels / 127.5 - 1.0).view(1, 1, 16, 16))[0, 0].flatten().long(),
                       levels.long())
    generated = mixed_digits(setup)[:40]
    generated[0, 0, 0, :4] = torch.tensor([-3.0, 3.0, -1.0, 1.0])  # out of range is clamped
    expected = np.clip(np.rint((generated.numpy().astype(np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    expected = np.repeat(expected, 3, axis=1)
    seen: dict[str, np.ndarray] = {}
    real_call = torch_fidelity.calculate_metrics

    def recording(**kwargs: object) -> dict:
        for side in ("input1", "input2"):
            dataset = kwargs[side]
            seen[side] = np.stack([np.asarray(dataset[i]) for i in range(len(dataset))])
        return real_call(**kwargs)

    monkeypatch.setattr(torch_fidelity, "calculate_metrics", recording)
    measured(setup, generated, ["fid"])
    assert seen["input1"].dtype == np.uint8 and np.array_equal(seen["input1"], expected)
    assert np.array_equal(seen["input1"][0, :, 0, :4], [[0, 255, 0, 255]] * 3)
    assert np.array_equal(seen["input2"], setup["reference"].pixels.numpy())
