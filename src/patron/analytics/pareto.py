"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987) by maximum likelihood.

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); their lifetime is
exponential with rate mu ~ Gamma(s, beta). Unlike BG/NBD a customer can drop out at any moment,
not only right after a purchase, so a customer who never came back grows less likely to be alive
with age (BG/NBD keeps them alive by construction).

The likelihood of a history ``(x, t_x, T)`` (Fader, Hardie & Lee 2005, "A note on implementing
the Pareto/NBD model in MATLAB"), with ``s * I`` the note's ``s / (r+s+x) * A0``::

    L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [(alpha+T)^-(r+x) (beta+T)^-s + s I]
    I = integral from t_x to T of (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau

The first term is "alive at T", the second "died at some tau in (t_x, T]". Numerics:

* ``I = F(t_x) - F(T)`` with ``F(u)`` the integral from u to infinity. The note writes F with
  2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+u)) when alpha >= beta and with
  2F1(r+s+x, r+x; r+s+x+1; (beta-alpha)/(beta+u)) otherwise; Euler's transformation turns both
  into ``2F1(1, b; c; z)`` with z in [0, 1): a series of positive terms of moderate size for any
  x, where the note's own factors overflow (x = 200 at t_x = 38, T = 40, say).
* Everything is a log: ``log I = log F(t_x) + log(1 - F(T)/F(t_x))``, then log-sum-exp of the
  two terms, so P(alive) and the likelihood stay finite for any history. The difference cancels
  when t_x is near T, but then ``s F(T) <= (alpha+T)^-(r+x) (beta+T)^-s`` (the alive term), so
  F's relative error bounds the log-likelihood's absolute error: F must be good to ~1e-12.
* ``scipy.special.hyp2f1(1, b; c; z)`` is (measured against mpmath at 40 digits) within 2e-14
  for z <= 0.99 at any b, c; nearer 1 it returns NaN for c above ~100 and is off by up to 5e-5
  for b > c - 1. z > 0.99 needs alpha and beta 100x apart (and u small against the larger).
  There :func:`_log_hyp2f1_near_one` integrates the integral representation by a vectorised
  Gauss-Legendre rule (5e-12 against mpmath). None of CDNOW's points need it; a fit whose beta
  runs away (no dropout in the data) needs it at every point, hence no per-point quad.
* The fit runs over the distinct ``(x, t_x, T)`` histories weighted by count, and F over the
  distinct ``(x, u)`` pairs (u a recency or an age): about 1,050 on CDNOW. The gradient is by
  central differences in the log-parameters (2F1 has no closed-form derivative in b and c): 8
  more evaluations of about 1 ms each; the CDNOW fit takes about 0.1 s.

Inputs are the columns of :func:`patron.analytics.summary.summarize`, as for
:class:`~patron.analytics.btyd.BetaGeoModel`, whose prediction methods this model mirrors.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from scipy.special import expit, gammaln, hyp2f1

from patron.analytics.btyd import (
    FitFailed,
    PurchaseModel,
    _arrays,
    _check_summary,
    _maximise,
    unique_histories,
)
from patron.core.errors import InvalidInput

Array = npt.NDArray[np.float64]

#: scipy's hyp2f1(1, b; c; z) is within 2e-14 of mpmath (40 digits) up to this z, for any b and c.
_SAFE_Z = 0.99
#: The fallback quadrature: Gauss-Legendre nodes, fall of the log-integrand per panel, depth.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(20)
_PANEL_DROP = 4.0
_DEPTH = 40.0
#: Log-parameter step of the central-difference gradient: about the cube root of machine epsilon.
_STEP = 6e-6


def _log1mexp(d: Array) -> Array:
    """log(1 - exp(d)) for d <= 0, accurate at both ends (Maechler 2012); -inf at d = 0."""
    with np.errstate(divide="ignore"):
        return np.where(d > -np.log(2.0), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


def _log_hyp2f1_near_one(b: Array, Q: Array, kappa: Array) -> Array:
    """log 2F1(1, b; b+Q; 1-kappa) where scipy's hyp2f1 is not trusted (1 - kappa > 0.99).

    2F1(1, b; c; 1-kappa) = (c-1) * integral_0^inf exp(phi(w)) dw with
    phi(w) = -(c-1) w - b log(kappa + (1-kappa) e^-w): the tail integral F after substituting
    w = log(1 + v/m), m the smaller of alpha+u and beta+u. phi is concave, its peak is known in
    closed form, its only singularities lie pi off the real axis at the kink
    w = log((1-kappa)/kappa), and it is linear to 1e-17 past the kink + log(1+b) + 40.

    A composite 20-point Gauss-Legendre rule marches out from the peak with panels over which
    phi falls by at most 12 and that do not jump over the kink, until phi is 40 below the peak
    (or linear: the rest integrates exactly). Vectorised, 15-30 us a point, so it also serves
    a degenerate fit (beta running away) where every point needs it; scipy.integrate.quad per
    point took 0.4 ms. Agrees with mpmath to 5e-12 relative for b up to 1e5, kappa down to 1e-16.
    """
    out = np.empty(len(b))
    for lo in range(0, len(b), 2048):  # bounded memory: panels x points x nodes
        part = slice(lo, lo + 2048)
        out[part] = _log_hyp2f1_near_one_block(b[part], Q[part], kappa[part])
    return out


def _log_hyp2f1_near_one_block(b: Array, Q: Array, kappa: Array) -> Array:
    e = b + Q - 1.0
    log_k, log_l = np.log(kappa), np.log1p(-kappa)
    kink = log_l - log_k

    def phi(w: Array) -> Array:
        return -e * w - b * np.logaddexp(log_k, log_l - w)

    def slope(w: Array) -> Array:
        return -e + b * expit(kink - w)  # type: ignore[no-any-return]

    with np.errstate(divide="ignore", invalid="ignore"):
        mode = np.where(Q < 1.0, np.maximum(kink + np.log((1.0 - Q) / e), 0.0), 0.0)
    top = phi(mode)
    linear = kink + np.log1p(b) + 40.0
    lows: list[Array] = []
    highs: list[Array] = []
    tail = np.zeros_like(b)
    for way in (1.0, -1.0):
        w = mode.copy()
        active = w < linear if way > 0 else w > 0
        for _ in range(1000):
            if not active.any():
                break
            with np.errstate(divide="ignore"):
                h = np.minimum(_PANEL_DROP / np.abs(slope(w)), 2.0 + 0.5 * np.abs(w - kink))
            # Approaching the kink: stop at it (or step 2 across it, its singularities being pi away).
            h = np.where((kink - w) * way > 0, np.minimum(h, np.maximum(np.abs(kink - w), 2.0)), h)
            if way < 0:
                h = np.minimum(h, w)
            start = phi(w)
            for _ in range(60):
                steep = active & (start - phi(w + way * h) > 3 * _PANEL_DROP)
                if not steep.any():
                    break
                h = np.where(steep, 0.5 * h, h)
            step = np.where(active, w + way * h, w)
            lows.append(np.minimum(w, step))
            highs.append(np.maximum(w, step))
            w = step
            active &= (phi(w) > top - _DEPTH) & ((w < linear) if way > 0 else (w > 0))
        else:
            raise FitFailed("2F1 quadrature did not converge", code="model_undefined")
        if way > 0:
            tail = np.exp(phi(w) - top) / np.abs(slope(w))
    lo, hi = np.stack(lows), np.stack(highs)
    half = 0.5 * (hi - lo)
    nodes = (0.5 * (hi + lo))[..., None] + half[..., None] * _GL_NODES
    e3, b3, k3, l3 = (v[:, None] for v in (e, b, log_k, log_l))
    values = np.exp(-e3 * nodes - b3 * np.logaddexp(k3, l3 - nodes) - top[:, None])
    total = np.einsum("pn,pnk,k->n", half, values, _GL_WEIGHTS) + tail
    return np.log(e) + top + np.log(total)  # type: ignore[no-any-return]


def _log_tail(p: Any, q: Any, alpha: float, beta: float, u: Any) -> Array:
    """log of the integral from u to infinity of (alpha+tau)^-p (beta+tau)^-q, for p, q > 0 and
    p + q > 1.

    With (M, P) the larger of alpha+u and beta+u and its exponent, (m, Q) the other:
    F = M^-P m^(1-Q) / (P+Q-1) * 2F1(1, P; P+Q; 1 - m/M), which is the note's A0 expression
    after Euler's transformation (the alpha >= beta and alpha < beta cases are the two choices
    of M)."""
    p_, q_, u_ = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(p, q, u))
    if alpha >= beta:
        big, small, e_big, e_small, gap = alpha + u_, beta + u_, p_, q_, alpha - beta
    else:
        big, small, e_big, e_small, gap = beta + u_, alpha + u_, q_, p_, beta - alpha
    c = e_big + e_small
    z = gap / big
    kappa = small / big
    log_h = np.full(z.shape, np.nan)
    near = z <= _SAFE_Z  # hyp2f1 is slow near z = 1 besides: skip where it is not used
    with np.errstate(all="ignore"):
        log_h[near] = np.log(hyp2f1(1.0, e_big[near], c[near], z[near]))
    # The series has positive terms and starts at 1: its log is >= 0.
    bad = ~(np.isfinite(log_h) & (log_h > -1e-12))
    if np.any(bad):
        points, back = np.unique(
            np.column_stack([e_big[bad], e_small[bad], kappa[bad]]), axis=0, return_inverse=True
        )
        fixed = _log_hyp2f1_near_one(points[:, 0], points[:, 1], points[:, 2])
        log_h[bad] = fixed[back.ravel()]
    return -e_big * np.log(big) + (1.0 - e_small) * np.log(small) - np.log(c - 1.0) + log_h  # type: ignore[no-any-return]


def _log_between(log_from: Array, log_to: Array) -> Array:
    """log(F(lo) - F(hi)) from log F(lo) and log F(hi), lo <= hi: -inf when lo = hi."""
    return log_from + _log1mexp(np.minimum(log_to - log_from, 0.0))


def _log_phi(k: float, L: Array) -> Array:
    """log of (1 - exp(-k L)) / k, with its limit log L at k = 0: the expected remaining
    lifetime factor for dropout shape s = k + 1."""
    with np.errstate(divide="ignore"):
        if k == 0.0:
            return np.log(L)
        a = abs(k) * L
        return max(-k, 0.0) * L + np.log(-np.expm1(-a)) - np.log(abs(k))  # type: ignore[no-any-return]


class _Pairs:
    """Grouped histories for repeated likelihood evaluations: F depends on a history through
    (x, t_x) and (x, T) only, and these pairs repeat far more than whole histories."""

    def __init__(self, x: Array, t_x: Array, T: Array, w: Array) -> None:
        n = len(x)
        (self.px, self.pu), _, index = unique_histories(np.concatenate([x, x]), np.concatenate([t_x, T]))
        self.i_tx, self.i_T = index[:n], index[n:]
        self.x, self.T, self.w, self.total = x, T, w, float(w.sum())


class ParetoNBDModel(PurchaseModel):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987)."""

    fitted: ClassVar[tuple[str, ...]] = ("r_", "alpha_", "s_", "beta_", "log_likelihood_", "n_customers_")

    @staticmethod
    def _log_terms(
        r: float, alpha: float, s: float, beta: float, x: Array, T: Array, log_f_tx: Array, log_f_T: Array
    ) -> tuple[Array, Array]:
        """log of the "alive at T" term and of the "died in (t_x, T]" term s*I."""
        log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        return log_alive, np.log(s) + _log_between(log_f_tx, log_f_T)

    @staticmethod
    def log_likelihood(r: float, alpha: float, s: float, beta: float, x: Any, t_x: Any, T: Any) -> Array:
        """Per-customer log-likelihood, finite for any history (FHL 2005 note, in log space)."""
        x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
        log_f_tx = _log_tail(r + x, s + 1.0, alpha, beta, t_x)
        log_f_T = _log_tail(r + x, s + 1.0, alpha, beta, T)
        a, d = ParetoNBDModel._log_terms(r, alpha, s, beta, x, T, log_f_tx, log_f_T)
        return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + np.logaddexp(a, d)  # type: ignore[no-any-return]

    @staticmethod
    def _total_ll(theta: Array, h: _Pairs) -> float:
        """Weighted total log-likelihood, with F evaluated once per distinct (x, u) pair."""
        r, alpha, s, beta = (float(v) for v in theta)
        log_f = _log_tail(r + h.px, s + 1.0, alpha, beta, h.pu)
        a, d = ParetoNBDModel._log_terms(r, alpha, s, beta, h.x, h.T, log_f[h.i_tx], log_f[h.i_T])
        ll = gammaln(r + h.x) - gammaln(r) + np.logaddexp(a, d)
        return float(h.w @ ll + h.total * (r * np.log(alpha) + s * np.log(beta)))

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> ParetoNBDModel:
        """Fit on one row per customer, or on histories already grouped with ``weights`` (the
        number of customers sharing each one: see :func:`~patron.analytics.btyd.unique_histories`).

        The gradient is by central differences in the log-parameters (the derivatives of 2F1 in
        its parameters have no closed form); the step keeps its error near 1e-10, far below what
        moves the estimates at their published precision."""
        v = _arrays(frequency=frequency, recency=recency, T=T)
        x, t_x, age = v["frequency"], v["recency"], v["T"]
        if len(x) == 0:
            raise InvalidInput("no customers to fit on", code="bad_summary")
        _check_summary(x, t_x, age)
        t_x = np.minimum(t_x, age)  # recency may exceed T by the tolerance _check_summary allows
        if weights is None:
            (ux, ut, uT), w, _ = unique_histories(x, t_x, age)
        else:
            ux, ut, uT, w = x, t_x, age, _arrays(weights=weights)["weights"]
            if w.shape != x.shape or np.any(w < 0) or w.sum() <= 0:
                raise InvalidInput("weights: one count >= 0 per history, not all 0", code="bad_summary")
        pairs = _Pairs(ux, ut, uT, w)
        pen = self.penalizer

        def objective(log_params: Array) -> float:
            theta = np.exp(log_params)
            return -self._total_ll(theta, pairs) / pairs.total + pen * float(np.sum(theta**2))

        def neg_ll(log_params: Array) -> tuple[float, Array]:
            grad = np.empty(4)
            for k in range(4):
                step = np.zeros(4)
                step[k] = _STEP
                grad[k] = (objective(log_params + step) - objective(log_params - step)) / (2 * _STEP)
            return objective(log_params), grad

        scale = max(float(np.mean(uT)), 1e-3)
        r, alpha, s, beta = _maximise(neg_ll, np.array([1.0, scale, 1.0, scale]), ("r", "alpha", "s", "beta"))
        self.r_, self.alpha_, self.s_, self.beta_ = float(r), float(alpha), float(s), float(beta)
        self.log_likelihood_ = float(np.sum(w * self.log_likelihood(r, alpha, s, beta, ux, ut, uT)))
        if not np.isfinite(self.log_likelihood_):
            raise FitFailed("the r/alpha/s/beta fit ended on a non-finite likelihood")
        self.n_customers_ = round(pairs.total)
        return self

    def _summary(self, frequency: Any, recency: Any, T: Any) -> tuple[Array, Array, Array]:
        self.check_fitted()
        v = _arrays(frequency=frequency, recency=recency, T=T)
        _check_summary(v["frequency"], v["recency"], v["T"])
        return v["frequency"], np.minimum(v["recency"], v["T"]), v["T"]

    @staticmethod
    def _horizon(t: Any) -> Array:
        horizon = np.asarray(t, dtype=np.float64)
        if not np.all(np.isfinite(horizon)) or np.any(horizon < 0):
            raise InvalidInput("the horizon t must be finite and >= 0", code="bad_parameter")
        return horizon

    def _log_alive(self, x: Array, t_x: Array, T: Array) -> Array:
        """log P(alive at T | history): the share of the first likelihood term."""
        r, alpha, s, beta = self.r_, self.alpha_, self.s_, self.beta_
        log_f_tx = _log_tail(r + x, s + 1.0, alpha, beta, t_x)
        log_f_T = _log_tail(r + x, s + 1.0, alpha, beta, T)
        a, d = self._log_terms(r, alpha, s, beta, x, T, log_f_tx, log_f_T)
        return a - np.logaddexp(a, d)

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> Array:
        """P(still a customer | history). Unlike BG/NBD, below 1 for customers without repeat
        purchases too, falling with their age."""
        x, t_x, age = self._summary(frequency, recency, T)
        return np.exp(self._log_alive(x, t_x, age))

    def _log_expected_if_alive(self, x: Array, T: Array, t: Array) -> Array:
        """log E[purchases in (T, T+t] | alive at T]: the posterior rates are Gamma(r+x, alpha+T)
        and Gamma(s, beta+T), and E[(1 - e^-mu t)/mu] integrates in closed form (SMC 1987)."""
        r, alpha, s, beta = self.r_, self.alpha_, self.s_, self.beta_
        lifetime = _log_phi(s - 1.0, np.log1p(t / (beta + T)))
        return np.log(r + x) - np.log(alpha + T) + np.log(beta + T) + lifetime

    def expected_purchases(self, t: float, frequency: Any, recency: Any, T: Any) -> Array:
        """E[purchases in the next ``t`` units | history]: P(alive) times
        (r+x)(beta+T) / ((alpha+T)(s-1)) * (1 - ((beta+T)/(beta+T+t))^(s-1)), in logs."""
        x, t_x, age = self._summary(frequency, recency, T)
        horizon = self._horizon(t)
        return np.exp(self._log_alive(x, t_x, age) + self._log_expected_if_alive(x, age, horizon))

    def probability_of_purchase(self, t: float, frequency: Any, recency: Any, T: Any) -> Array:
        """P(at least one purchase in the next ``t`` units | history), exactly: alive at T, and
        the first purchase comes before both the horizon and the customer's dropout. Given the
        rates that is lambda/(lambda+mu) * (1 - e^-(lambda+mu)t); averaged over the posterior it
        is (r+x)(alpha+T)^(r+x)(beta+T)^s times the integral from T to T+t of
        (alpha+u)^-(r+x+1) (beta+u)^-s, the same integral as the likelihood's. (BG/NBD's method
        ignores dropout within t; here it costs nothing to keep it.)"""
        x, t_x, age = self._summary(frequency, recency, T)
        horizon = self._horizon(t)
        r, alpha, s, beta = self.r_, self.alpha_, self.s_, self.beta_
        log_first = _log_between(
            _log_tail(r + x + 1.0, s, alpha, beta, age), _log_tail(r + x + 1.0, s, alpha, beta, age + horizon)
        )
        log_buy_if_alive = np.log(r + x) + log_first + (r + x) * np.log(alpha + age) + s * np.log(beta + age)
        return np.exp(self._log_alive(x, t_x, age) + np.minimum(log_buy_if_alive, 0.0))

    def _discounted_purchases(
        self, x: Array, t_x: Array, T: Array, months: int, month_length: float, discount_rate: float
    ) -> Array:
        # P(alive) (the hypergeometric part) once; the per-month expectation is closed form.
        log_alive = self._log_alive(x, t_x, T)
        total = np.zeros_like(x)
        previous = np.zeros_like(x)
        for m in range(1, months + 1):
            current = np.exp(log_alive + self._log_expected_if_alive(x, T, np.full_like(x, m * month_length)))
            total += (current - previous) / (1.0 + discount_rate) ** m
            previous = current
        return total
