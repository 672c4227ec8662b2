"""Closed forms and quadrature for 1-D Gaussians (the `divergences` experiment and the ground
truth of `f-divergences`), checked against hand-derived values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wganbench.objectives.fdivergences import F_DIVERGENCES
from wganbench.theory.divergences import MEAN_SHIFT, DivergencesConfig, table
from wganbench.theory.f_divergences import bound_at_optimum
from wganbench.theory.gaussians import (
    Gaussian,
    cramer_closed,
    cramer_numerical,
    f_divergence_numerical,
    js_numerical,
    kl_closed,
    kl_numerical,
    w1_closed,
    w1_numerical,
)


@pytest.fixture(scope="module")
def shifts():
    return table(DivergencesConfig())


def test_table_shape_and_columns(shifts) -> None:
    assert list(shifts.columns) == ["mu", "std", "divergence", "value", "closed_form", "numerical", "abs_difference"]
    assert set(shifts["divergence"]) == {"kl", "reverse_kl", "js", "w1", "cramer"}
    assert len(shifts) == 5 * len(DivergencesConfig().mus)
    assert shifts.loc[shifts["divergence"] == "js", "closed_form"].isna().all()


def test_closed_forms_agree_with_numerical_integration(shifts) -> None:
    exact = shifts[shifts["closed_form"].notna()]
    assert (exact["abs_difference"] < 1e-9).all()
    np.testing.assert_allclose(exact["value"], exact["numerical"], rtol=0, atol=1e-9)


def test_hand_values(shifts) -> None:
    by = shifts.set_index(["divergence", "mu"])["value"]
    for mu in (-4.0, -1.0, 0.0, 0.4, 2.0, 4.0):
        assert by["kl", mu] == pytest.approx(mu**2 / 2, abs=1e-12)
        assert by["reverse_kl", mu] == pytest.approx(mu**2 / 2, abs=1e-12)
        assert by["w1", mu] == pytest.approx(abs(mu), abs=1e-12)
    # Cramér for a unit shift of N(0, 1): (2/√π)(e^{-1/4} - 1) + (2Φ(1/√2) - 1) = 0.270903...
    assert by["cramer", 1.0] == pytest.approx(2 / math.sqrt(math.pi) * (math.exp(-0.25) - 1) + math.erf(0.5), abs=1e-12)
    for name in ("kl", "js", "w1", "cramer"):
        assert by[name, 0.0] == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(shifts[shifts["divergence"] == name].sort_values("mu")["value"].to_numpy(),
                                   shifts[shifts["divergence"] == name].sort_values("mu")["value"].to_numpy()[::-1],
                                   atol=1e-10)  # symmetric in mu


def test_js_limits() -> None:
    p = Gaussian(0.0, 1.0)
    # small shifts: JS ≈ Fisher information / 8 * mu^2 = mu^2 / 8
    assert js_numerical(p, Gaussian(0.01, 1.0)) == pytest.approx(0.01**2 / 8, rel=1e-4)
    # disjoint in practice: log 2
    assert js_numerical(p, Gaussian(20.0, 1.0)) == pytest.approx(math.log(2.0), abs=1e-9)
    values = [js_numerical(p, Gaussian(mu, 1.0)) for mu in (0.5, 1.0, 2.0, 4.0, 8.0)]
    assert all(a < b < math.log(2.0) for a, b in zip(values, values[1:]))


@pytest.mark.parametrize(("mu", "std"), [(0.3, 0.5), (1.0, 1.0), (2.5, 2.0), (-3.0, 0.7)])
def test_closed_forms_against_quadrature_off_unit_variance(mu: float, std: float) -> None:
    p, q = Gaussian(0.0, std), Gaussian(mu, std)
    assert cramer_closed(p, q) == pytest.approx(cramer_numerical(p, q), abs=1e-10)
    assert w1_closed(p, q) == pytest.approx(w1_numerical(p, q), abs=1e-6)
    assert kl_closed(p, q) == pytest.approx(mu**2 / (2 * std**2), abs=1e-12)


def test_kl_with_unequal_variances() -> None:
    p, q = Gaussian(0.3, 0.8), Gaussian(-0.5, 1.7)
    want = math.log(1.7 / 0.8) + (0.8**2 + 0.8**2) / (2 * 1.7**2) - 0.5
    assert kl_closed(p, q) == pytest.approx(want, abs=1e-14)
    assert kl_numerical(p, q) == pytest.approx(want, abs=1e-10)
    with pytest.raises(ValueError):
        w1_closed(p, q)


def test_w1_is_not_the_distance_between_density_values() -> None:
    """The common mistake the module avoids: densities passed as samples do not give |mu|."""
    from scipy.stats import wasserstein_distance

    p, q = Gaussian(0.0, 1.0), Gaussian(3.0, 1.0)
    x = np.linspace(-12, 15, 2001)
    wrong = wasserstein_distance(np.exp(p.logpdf(x)), np.exp(q.logpdf(x)))
    assert abs(wrong - 3.0) > 1.0
    assert w1_numerical(p, q) == pytest.approx(3.0, abs=1e-6)


# D_f(N(0,1) || N(mu,1)) by hand, for the generators f of objectives/fdivergences.py.
MU = 0.5
F_CLOSED = {
    "kl": MU**2 / 2,
    "reverse_kl": MU**2 / 2,
    "pearson": math.exp(MU**2) - 1,
    "hellinger": 2 - 2 * math.exp(-(MU**2) / 8),
    "js": 2 * js_numerical(Gaussian(0, 1), Gaussian(MU, 1)),  # 2 JS with f-GAN's generator
    "gan": 2 * js_numerical(Gaussian(0, 1), Gaussian(MU, 1)) - math.log(4.0),
    "total_variation": math.erf(MU / (2 * math.sqrt(2))),  # 2Φ(mu/2) - 1
}


@pytest.mark.parametrize("name", sorted(F_CLOSED))
def test_f_divergence_quadrature_against_closed_forms(name: str) -> None:
    p, q = Gaussian(0.0, 1.0), Gaussian(MU, 1.0)
    assert f_divergence_numerical(F_DIVERGENCES.get(name).f, p, q) == pytest.approx(F_CLOSED[name], abs=1e-9)


@pytest.mark.parametrize("name", sorted(F_CLOSED))
def test_conjugate_gives_a_tight_bound_at_the_optimal_critic(name: str) -> None:
    """E_P[T*] - E_Q[f*(T*)] at T* = f'(p/q) equals D_f iff f* is the conjugate of f."""
    p, q = Gaussian(0.0, 1.0), Gaussian(MU, 1.0)
    assert bound_at_optimum(F_DIVERGENCES.get(name), p, q) == pytest.approx(F_CLOSED[name], abs=1e-8)


def test_every_f_divergence_row_has_a_hand_value() -> None:
    assert sorted(F_CLOSED) == F_DIVERGENCES.names()


def test_registry_lists_the_five_divergences() -> None:
    assert MEAN_SHIFT.names() == ["cramer", "js", "kl", "reverse_kl", "w1"]
