import math

import numpy as np
import pytest

from solvers.diffusion import NoiseSchedule, even_trajectory


def test_linear_matches_direct_products():
    sch = NoiseSchedule.linear(1000)
    betas = np.linspace(1e-4, 2e-2, 1000)
    ab = np.concatenate([[1.0], np.cumprod(1 - betas)])
    np.testing.assert_allclose(sch.alpha_bar, ab, rtol=1e-12)
    np.testing.assert_allclose(sch.beta_bar, 1 - ab, rtol=1e-9)
    assert sch.beta_bar[1] == pytest.approx(1e-4, rel=1e-14)   # full relative precision at n=1
    assert sch.betas[0] == 0 and sch.alpha_bar[0] == 1 and sch.beta_bar[0] == 0
    assert sch.N == 1000 and sch.alpha_bar.shape == (1001,)


def test_cosine_matches_formula():
    N, s = 50, 0.008
    sch = NoiseSchedule.cosine(N)
    f = lambda n: math.cos((n / N + s) / (1 + s) * math.pi / 2) ** 2
    for n in (1, 10, 25, 49):
        assert sch.alpha_bar[n] == pytest.approx(f(n) / f(0), rel=1e-12)
    assert sch.betas[N] == pytest.approx(0.999)      # capped: the exact last beta is 1


def test_skip_quantities():
    sch = NoiseSchedule.from_betas(np.linspace(0.01, 0.2, 20))
    s, t = 3, 11
    a_ts = np.prod(1 - sch.betas[s + 1:t + 1])
    assert sch.alpha_ts(s, t) == pytest.approx(a_ts, rel=1e-12)
    assert sch.beta_ts(s, t) == pytest.approx(1 - a_ts, rel=1e-12)
    assert sch.tilde_beta(s, t) == pytest.approx((1 - a_ts) * sch.beta_bar[s] / sch.beta_bar[t], rel=1e-12)
    # one-step tilde beta is DDPM's posterior variance beta_n (1 - abar_{n-1})/(1 - abar_n)
    n = 7
    assert sch.tilde_beta(n - 1, n) == pytest.approx(sch.betas[n] * sch.beta_bar[n - 1] / sch.beta_bar[n])
    v = sch.beta_ts(np.array([0, 1]), np.array([5, 6]))
    assert v.shape == (2,)
    with pytest.raises(ValueError, match="s <= t"):
        sch.alpha_ts(5, 3)
    with pytest.raises(TypeError, match="s must be integer"):
        sch.alpha_ts(1.5, 3)


def test_schedule_errors():
    with pytest.raises(ValueError, match="betas"):
        NoiseSchedule.from_betas([0.1, 1.0])
    with pytest.raises(ValueError, match="betas"):
        NoiseSchedule.from_betas([[0.1]])
    with pytest.raises(ValueError, match="N"):
        NoiseSchedule.linear(0)
    with pytest.raises(TypeError, match="N"):
        NoiseSchedule.linear(10.0)


def test_even_trajectory_official_rule():
    tr = even_trajectory(1000, 10)
    a = 999 / 9
    assert tr.tolist() == [0] + [round(1 + a * k) for k in range(10)]
    assert tr[1] == 1 and tr[-1] == 1000 and len(tr) == 11
    assert even_trajectory(10, 10).tolist() == list(range(11))
    assert even_trajectory(10, 1).tolist() == [0, 10]
    with pytest.raises(ValueError, match="K"):
        even_trajectory(10, 11)
