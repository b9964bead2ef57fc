"""One regression test per boundary fix of the adversarial pass (issue 14, "make it stay
fixed"); each failed before its fix.  Truths: closed forms, scale invariances, the generic
array-API reference, and documented limits."""
import math

import numpy as np
import pytest

import numopt
import solvers.diffusion as dif
from numopt import optim
from numopt.estimators import categorical_sample
from numopt.losses import emo, smoothed_accuracy, smoothed_f1, softmax_cross_entropy, zlpr_soft
from numopt.scaling import b_noise, expected_sign, lr_max
from probspace import array_namespace, as_float_array, use_backend
from probspace.random import Stream
from probspace.testing import chisquare_gof, finite_difference_grad, run_isolated

XP = array_namespace()


# ---- probspace core ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["abc", {}, [[1.0], [1.0, 2.0]]])
def test_array_namespace_names_the_argument_that_is_not_an_array(bad):
    with pytest.raises(TypeError, match="^grad must be"):
        array_namespace(np.ones(2), bad, names=("p", "grad"))


@pytest.mark.parametrize("bad", [None, "abc", np.ones(2, np.float16), np.ones(2, object)])
def test_as_float_array_refuses_none_strings_half_and_object_by_name(bad):
    with pytest.raises(TypeError, match=r"^w "):
        as_float_array(bad, "w", XP)


def test_chisquare_gof_refuses_nan_probabilities_and_complex_counts():
    with pytest.raises(ValueError, match="expected_probs"):    # NaN used to pass the sum check
        chisquare_gof([30, 70], [np.nan, 1.0])
    with pytest.raises(TypeError, match="observed"):
        chisquare_gof(np.array([30, 70]) + 1j, [0.3, 0.7])
    with pytest.raises(ValueError, match="observed"):
        chisquare_gof([30.5, 70], [0.3, 0.7])


@pytest.mark.parametrize("h", [math.nan, 0.0, -1e-6, "1e-6"])
def test_finite_difference_grad_validates_h(h):
    with pytest.raises((TypeError, ValueError), match=r"\bh\b"):
        finite_difference_grad(lambda x: float(x @ x), np.ones(2), h=h)


# ---- numopt.simplex ------------------------------------------------------------------------------
def test_projection_radius_must_keep_entries_normal_and_finite():
    # radius 5e-324 over 4 equal entries used to give zeros that sum to 0, not to the radius
    with pytest.raises(ValueError, match="radius"):
        numopt.project_simplex(np.ones(4), radius=5e-324)
    with pytest.raises(ValueError, match="radius"):          # overflows float32
        numopt.project_simplex(np.ones(4, np.float32), radius=1e300)
    p = numopt.project_simplex(np.ones(4), radius=4 * 2.2250738585072014e-308)
    assert np.all(p == 2.2250738585072014e-308)


def test_projection_jvp_refuses_a_non_finite_tangent():
    with pytest.raises(ValueError, match="tangent"):
        numopt.project_simplex_jvp(np.array([0.2, 0.5, 0.3]), np.array([1.0, np.nan, 0.0]))


def test_minimize_simplex_refuses_a_callback_that_is_not_callable():
    with pytest.raises(TypeError, match="callback"):
        numopt.minimize_simplex(lambda p: 0.0, lambda p: p, np.ones(3) / 3, callback=3.0)


# ---- numopt.optim ----------------------------------------------------------------------------------
@pytest.mark.parametrize("rung", ["numba", "generic"])
@pytest.mark.parametrize("make", [lambda: optim.adam(0.1, eps=0.0),
                                  lambda: optim.scale_by_adam(eps=0.0)], ids=["adam", "scale_by_adam"])
def test_adam_with_eps_zero_gives_sign_g_and_zero_for_a_zero_gradient(rung, make):
    # documented: from a zero state with eps = 0 the step is sign(g); a zero gradient gave 0/0
    opt = make()
    p = np.array([1.0, 2.0, 3.0])
    g = np.array([0.5, 0.0, -2.0])
    with use_backend(rung):
        u, _ = opt.update(g, opt.init(p), p)
    scale = 0.1 if u[0] < 0 else 1.0
    np.testing.assert_array_equal(u, -scale * np.sign(g) if u[0] < 0 else np.sign(g))


def test_eg_adaptive_is_scale_free_at_huge_gradients_and_names_a_runaway_scale_lr():
    p = np.array([0.5, -1.0, 2.0])
    opt = optim.eg_adaptive(optim.sgd(1e-300))
    s = opt.init(p)
    for g in (np.array([1e300, -2e300, 3e300]), np.array([2e300, -1e300, 1e300])):
        u, s = opt.update(g, s, p)
        assert np.all(np.isfinite(u))                 # the cosine was inf / inf = NaN
    assert math.isfinite(s.scale) and s.scale > 0
    opt = optim.eg_adaptive(optim.sgd(0.1), scale_lr=1e300)
    s = opt.update(np.ones(3), opt.init(p), p)[1]      # first step: cos = 0, no change
    with pytest.raises(ValueError, match="scale_lr"):      # was an OverflowError
        opt.update(np.ones(3), s, p)


def test_gradient_transformations_name_updates_not_params_in_state_errors():
    t = optim.scale_by_adam()
    s = t.init(np.ones(3))
    with pytest.raises(ValueError, match="updates leaf"):
        t.update(np.ones(4), s)
    m = optim.multi_transform({"a": optim.sgd(0.1)}, "a")
    with pytest.raises(TypeError, match="^updates"):
        m.update("abc", m.init(np.ones(2)))


def test_schedules_refuse_arguments_that_give_infinite_or_misnamed_values():
    with pytest.raises(ValueError, match="power"):           # 0 ** -1 = inf at the end
        optim.polynomial_schedule(1.0, 0.1, -1.0, 10)
    with pytest.raises(ValueError, match="exponent"):
        optim.cosine_decay_schedule(1.0, 10, exponent=-1.0)
    with pytest.raises(ValueError, match="peak_value"):      # was reported as end_value
        optim.warmup_exponential_decay_schedule(0.0, math.nan, 3, 5, 0.5)
    with pytest.raises(ValueError, match="peak_value"):      # was reported as alpha
        optim.warmup_cosine_decay_schedule(0.0, 5e-324, 3, 10, end_value=0.01)
    with pytest.raises(TypeError, match="schedules"):
        optim.join_schedules(3, [1])
    with pytest.raises(TypeError, match="boundaries_and_scales"):
        optim.piecewise_constant_schedule(1.0, "abc")
    with pytest.raises(TypeError, match="friction"):         # float("2") was accepted
        optim.friction_to_momentum("2", 0.1)


# ---- numopt.losses ----------------------------------------------------------------------------------
def test_zlpr_soft_kernel_masks_zero_weights_at_huge_logits():
    z = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7]]) * 1e300
    t = np.array([[1, 0, 1], [0, 0, 1]]) * 0.8
    got = zlpr_soft(z, t, return_grad=True)                  # Numba: 0 * e^inf was NaN
    with use_backend("generic"):
        want = zlpr_soft(z, t, return_grad=True)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-15)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-15)
    assert np.isfinite(got[0])


@pytest.mark.parametrize("fn,z,t", [
    (smoothed_accuracy, np.array([[0.5, -1.0, 2.0]]), np.array([2])),
    (smoothed_f1, np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, 1.0]))])
def test_smoothed_losses_name_a_temperature_that_overflows(fn, z, t):
    with pytest.raises(ValueError, match="temperature"):     # was a NaN loss
        fn(z, t, temperature=5e-324)
    v = fn(z, t, temperature=1e-300)                         # still representable: hard limit
    assert np.isfinite(v)


def test_losses_name_logits_for_class_count_mismatches():
    with pytest.raises(ValueError, match="logits"):
        softmax_cross_entropy(np.zeros((3, 0)), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="logits"):
        emo(np.zeros((3, 2)), np.zeros(3, np.int64), cost=np.ones((3, 3)))
    with pytest.raises(TypeError, match="targets"):
        softmax_cross_entropy(np.zeros((3, 2)), None)


# ---- numopt.scaling / estimators ----------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_lr_max_is_scale_free_in_the_gradient(scale):
    g = np.array([1.0, -0.5, 0.25])
    h = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    np.testing.assert_allclose(lr_max(g * scale, h), lr_max(g, h), rtol=1e-15)   # was NaN


def test_scaling_shape_errors_name_every_argument():
    with pytest.raises(ValueError, match="grad"):
        lr_max(np.zeros(0), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="noise_std"):
        expected_sign(np.ones(3), np.ones(2), 4.0)
    with pytest.raises(TypeError, match="cov"):
        b_noise(np.ones(2), np.eye(2), None)


def test_categorical_sample_names_a_stream_of_the_wrong_type():
    with pytest.raises(TypeError, match="stream"):
        categorical_sample(np.array([0.5, 0.5]), 3, 0)
    assert categorical_sample(np.array([0.5, 0.5]), 3, Stream(0)).shape == (3,)


# ---- solvers.diffusion ------------------------------------------------------------------------------------
SCH = dif.NoiseSchedule.linear(20, 1e-3, 0.2)


@pytest.mark.parametrize("build", [
    lambda: dif.NoiseSchedule(np.linspace(1e-3, 0.2, 5) + 1j),
    lambda: dif.GaussianMixture([1.0], [[0.0, 1.0j]], [np.eye(2)]),
    lambda: dif.PointSet(np.ones((2, 2)) + 1j)], ids=["betas", "means", "points"])
def test_diffusion_refuses_complex_input_instead_of_dropping_the_imaginary_part(build):
    with pytest.raises(TypeError, match="complex"):
        build()


def test_step_coefficients_refuse_fractional_steps_and_eta_above_one():
    with pytest.raises(TypeError, match=r"\bs\b"):       # 3.5 was truncated to 3
        dif.step_coefficients(SCH, 3.5, 7)
    with pytest.raises(ValueError, match="eta"):          # eta = 1e300 gave NaN coefficients
        dif.step_coefficients(SCH, 3, 7, eta=1.5)
    with pytest.raises(ValueError, match=r"\bt\b"):
        dif.step_coefficients(SCH, np.array([1, 2]), np.array([3, 4, 5]))


def test_trajectory_cost_refuses_ms_eps_that_makes_the_log_undefined():
    ms = np.full(SCH.N + 1, 0.5)
    tr = [0, 5, 10, 20]
    assert np.isfinite(dif.trajectory_cost(SCH, ms, tr))
    ms[10] = 1e300
    with pytest.raises(ValueError, match="ms_eps"):       # was NaN
        dif.trajectory_cost(SCH, ms, tr)


def test_diffusion_overflows_and_underflows_are_named():
    with pytest.raises(ValueError, match=r"\by\b"):       # was an OverflowError
        dif.paper_sampling_clip(1e300)
    with pytest.raises(ValueError, match=r"\bs=") as e:   # reported as betas
        dif.NoiseSchedule.cosine(20, s=1e300)
    assert "s=" in str(e.value)
    gm = dif.GaussianMixture([1.0], [[0.0, 1.0]], [np.eye(2)])
    x0 = gm.sample(4, 0)
    tr = [0, 5, 10, 20]
    v = dif.baseline_variances(SCH, tr, "beta")
    with pytest.raises(ValueError, match="eta"):          # was 'math domain error'
        dif.nelbo(gm.noise_predictor(SCH), x0, SCH, tr, v, eta=5e-324, seed=0)
    with pytest.raises(ValueError, match="eps_hat"):
        dif.sn_variance(SCH, 3, 7, np.ones((4, 2)), np.ones((4, 0)))


def test_a_kernel_fed_adversarial_rows_stays_in_bounds_in_a_child_process():
    """The zlpr_soft and projection kernels under NUMBA_BOUNDSCHECK=1 on extreme rows: an
    out-of-bounds access raises IndexError (or crashes) in the child, failing this test."""
    run_isolated("""
        import numpy as np
        from numopt import project_simplex
        from numopt.losses import zlpr_soft
        z = np.array([[1e300, -1e300, 0.0, 5e-324], [0.0, 0.0, 0.0, 0.0], [-np.inf, 1.0, 2.0, 3.0]])
        p = project_simplex(z)
        assert np.allclose(p.sum(-1), 1)
        t = np.array([[1.0, 0.0, 0.5, 0.0]] * 2)
        assert np.all(np.isfinite(zlpr_soft(z[:2], t, reduction="none")))
    """, env={"NUMBA_BOUNDSCHECK": "1"}, timeout=600)


@pytest.mark.parametrize("which", ["sample", "nelbo"])
def test_sampler_and_bound_refuse_a_noise_predictor_that_returns_nan(which):
    """sample/nelbo returned NaN samples / a NaN bound silently; estimate_gamma already raised."""
    gm = dif.GaussianMixture([1.0], [[0.0, 1.0]], [np.eye(2)])
    tr = [0, 5, 20]
    v = dif.baseline_variances(SCH, tr, "beta")
    bad = lambda x, n: x * np.nan   # noqa: E731
    with pytest.raises(ValueError, match="eps_fn returned non-finite"):
        if which == "sample":
            dif.sample(bad, SCH, tr, v, np.ones((3, 2)), seed=0)
        else:
            dif.nelbo(bad, gm.sample(4, 0), SCH, tr, v, seed=0)
