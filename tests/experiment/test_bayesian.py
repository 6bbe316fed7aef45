from dataclasses import asdict

import numpy as np
import pytest
from scipy.special import betaln

from funflix.experiment.bayesian import BayesianConfig, BayesianResult, BetaBinomialTest, probability_and_losses
from funflix.experiment.constants import NO_DATA
from funflix.experiment.statistics import ProportionStatistic as P


def _exact_probability(a, b):
    """P(B > A) for integer Beta parameters, Evan Miller's closed form."""
    i = np.arange(int(b[0]))
    return float(np.exp(betaln(a[0] + i, a[1] + b[1]) - np.log(b[1] + i) - betaln(1 + i, b[1])
                        - betaln(a[0], a[1])).sum())


def test_probability_matches_the_closed_form_on_random_counts():
    rng = np.random.default_rng(2)
    for _ in range(60):
        n1, n2 = rng.integers(10, 20_000, 2)
        x1, x2 = rng.binomial(n1, 0.08), rng.binomial(n2, 0.09)
        a, b = (1 + x1, 1 + n1 - x1), (1 + x2, 1 + n2 - x2)
        assert probability_and_losses(a, b)[0] == pytest.approx(_exact_probability(a, b), abs=1e-9)


def test_losses_match_monte_carlo():
    rng = np.random.default_rng(3)
    for a, b in [((71, 931), (96, 906)), ((3, 10), (500, 5000)), ((1, 1), (1, 11)), ((700, 9300), (690, 9310))]:
        p, loss_b, loss_a = probability_and_losses(a, b)
        draws_a, draws_b = rng.beta(*a, 1_000_000), rng.beta(*b, 1_000_000)
        assert p == pytest.approx((draws_b > draws_a).mean(), abs=3e-3)
        assert loss_b == pytest.approx(np.maximum(draws_a - draws_b, 0).mean(), rel=0.02, abs=1e-6)
        assert loss_a == pytest.approx(np.maximum(draws_b - draws_a, 0).mean(), rel=0.02, abs=1e-6)


def test_whole_result_pinned():
    result = BetaBinomialTest(P(1000, 70), P(1000, 95)).compute_result()
    assert {k: round(v, 5) if isinstance(v, float) else v for k, v in asdict(result).items()} == asdict(
        BayesianResult(control_mean=0.07086, challenger_mean=0.09581, probability_challenger_better=0.97876,
                       expected_loss_challenger=0.0001, expected_loss_control=0.02505))


def test_design_effect_shrinks_the_evidence():
    plain = BetaBinomialTest(P(4000, 280), P(4000, 330)).compute_result()
    clustered = BetaBinomialTest(P(4000, 280), P(4000, 330), design_effects=(2.0, 2.0)).compute_result()
    halved = BetaBinomialTest(P(2000, 140), P(2000, 165)).compute_result()
    assert clustered.probability_challenger_better == pytest.approx(halved.probability_challenger_better, abs=1e-12)
    assert 0.5 < clustered.probability_challenger_better < plain.probability_challenger_better
    with pytest.raises(ValueError, match="design effects"):
        BetaBinomialTest(P(10, 1), P(10, 1), design_effects=(0.5, 1.0))


def test_symmetry_and_degenerate_input():
    same = BetaBinomialTest(P(500, 40), P(500, 40)).compute_result()
    assert same.probability_challenger_better == pytest.approx(0.5, abs=1e-9)
    assert same.expected_loss_challenger == pytest.approx(same.expected_loss_control, rel=1e-6)
    empty = BetaBinomialTest(P(0, 0), P(10, 1)).compute_result()
    assert empty.errors == (NO_DATA,) and empty.probability_challenger_better == 0.5
    no_clicks = BetaBinomialTest(P(100, 0), P(100, 0)).compute_result()
    assert no_clicks.probability_challenger_better == pytest.approx(0.5, abs=1e-6)
    assert np.isfinite(list(asdict(no_clicks).values())[1:-1]).all()
    with pytest.raises(ValueError, match="prior"):
        BayesianConfig(prior_a=0)
