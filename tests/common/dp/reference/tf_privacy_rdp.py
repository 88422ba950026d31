#!/usr/bin/env python3
"""Reference RDP accounting, ported from TF Privacy / Opacus / TFF research code.

This is an independent, standard-library-only (``math``) port of

  * tensorflow/privacy  tensorflow_privacy/privacy/analysis/rdp_accountant.py
    (``_compute_log_a_int``, ``_compute_log_a_frac``, ``_log_erfc``,
    ``_compute_rdp``) -- identical to pytorch/opacus
    opacus/accountants/analysis/rdp.py (``_compute_log_a_for_int_alpha`` ...);
  * the two RDP -> (eps, delta) conversions:
      - "improved": tensorflow/privacy rdp_accountant.py ``_compute_eps``
        (2020-2022) == google/differential-privacy
        python/dp_accounting/rdp/rdp_privacy_accountant.py ``compute_epsilon``
        (Balle et al. 2020 Thm. 21 / Canonne-Kamath-Steinke 2020 Prop. 12,
        plus the KL shortcut and the alpha > 1.01 guard);
      - "classic": tensorflow/privacy privacy/analysis/rdp_accountant.py
        ``_compute_eps`` before 2020 (Mironov 2017 Prop. 3):
        eps = min_alpha rdp - log(delta) / (alpha - 1);
  * google-research/federated distributed_dp/accounting_utils.py
    (``_compute_rdp_subsampled``, ``compute_rdp_dgaussian`` and the tau sum of
    ``ddgauss_epsilon``) for the distributed discrete Gaussian.

Two deliberate deviations from TF Privacy's text, both as in current
dp_accounting (google/differential-privacy python/dp_accounting/rdp/
rdp_privacy_accountant.py), are made so that the reference is accurate where
the check is meant to be strict:
  1. log(1 - q) is computed as log1p(-q). TF Privacy's math.log(1 - q)
     rounds 1 - q first (~1e-16 absolute), which is 1% of an RDP of 1e-14
     (q = 1e-5, sigma = 100, order 2: 1.0091e-14 instead of 1.00005e-14).
  2. The fractional series stops only when both terms are below e^-30 AND
     falling. TF Privacy stops at the first i with both below e^-30, which for
     large fractional orders with q or 1 - q small (q = 0.5, alpha = 64.5,
     sigma = 100: 0.5^64.5 < e^-44) is i = 0 and yields a negative RDP.
     Whenever TF Privacy's stop is sound both rules stop at the same i.
dp_accounting's third change (adding |terms| instead of signed terms, an
upper bound on A_alpha) is NOT followed; see docs/dp_accountant.md.

It exists so that fedlearn's C++ accountant can be checked against the
reference algorithms to 1e-6 relative on a grid, where the published test
values are printed to fewer digits.  numpy/scipy are not required: scipy's
``binom``/``gammaln``/``log_ndtr`` are replaced by ``math.lgamma`` with an
explicit sign and by ``math.erfc`` with the asymptotic tail that TF Privacy
itself uses when ``log_ndtr`` is missing.

Usage:
  tf_privacy_rdp.py --emit > tests/common/dp/testdata/tf_privacy_reference.tsv
  tf_privacy_rdp.py --check tests/common/dp/testdata/tf_privacy_reference.tsv

``--check`` regenerates every row and fails (exit 1) if any value differs from
the committed table by more than 1e-12 relative (or if a row is missing).
"""

import argparse
import math
import sys

INF = math.inf

# --------------------------------------------------------------------------
# Log-space arithmetic, as in TF Privacy.
# --------------------------------------------------------------------------


def _log_add(logx, logy):
  a, b = min(logx, logy), max(logx, logy)
  if a == -INF:
    return b
  return math.log1p(math.exp(a - b)) + b


def _log_sub(logx, logy):
  if logx < logy:
    raise ValueError('The result of subtraction must be non-negative.')
  if logy == -INF:
    return logx
  if logx == logy:
    return -INF
  try:
    return math.log(math.expm1(logx - logy)) + logy
  except OverflowError:
    return logx


def _log_abs_binom(alpha, i):
  """(log|C(alpha, i)|, sign) for real alpha >= 0 and integer i >= 0."""
  # C(alpha, i) = prod_{j < i} (alpha - j) / (j + 1); one sign flip for every
  # factor with alpha - j < 0, i.e. for j = floor(alpha) + 1, ..., i - 1.
  negatives = max(0, i - math.floor(alpha) - 1)
  sign = -1 if negatives % 2 else 1
  return (math.lgamma(alpha + 1) - math.lgamma(i + 1) -
          math.lgamma(alpha - i + 1)), sign


def _log_erfc(x):
  """log(erfc(x)); TF Privacy's Laurent-series tail where erfc underflows."""
  if x > 20.0:
    return (-math.log(math.pi) / 2 - math.log(x) - x**2 - .5 * x**-2 +
            .625 * x**-4 - 37. / 24. * x**-6 + 353. / 64. * x**-8)
  return math.log(math.erfc(x))


# --------------------------------------------------------------------------
# RDP of the Poisson-sampled Gaussian mechanism (Mironov, Talwar, Zhang 2019).
# --------------------------------------------------------------------------


def _compute_log_a_int(q, sigma, alpha):
  log_a = -INF
  for i in range(alpha + 1):
    log_coef_i = (math.lgamma(alpha + 1) - math.lgamma(i + 1) -
                  math.lgamma(alpha - i + 1) + i * math.log(q) +
                  (alpha - i) * math.log1p(-q))
    s = log_coef_i + (i * i - i) / (2 * (sigma**2))
    log_a = _log_add(log_a, s)
  return float(log_a)


def _compute_log_a_frac(q, sigma, alpha):
  log_a0, log_a1 = -INF, -INF
  i = 0
  z0 = sigma**2 * math.log(1 / q - 1) + .5
  last_s0, last_s1 = -INF, -INF
  while True:
    log_coef, sign = _log_abs_binom(alpha, i)
    j = alpha - i
    log_t0 = log_coef + i * math.log(q) + j * math.log1p(-q)
    log_t1 = log_coef + j * math.log(q) + i * math.log1p(-q)
    log_e0 = math.log(.5) + _log_erfc((i - z0) / (math.sqrt(2) * sigma))
    log_e1 = math.log(.5) + _log_erfc((z0 - j) / (math.sqrt(2) * sigma))
    log_s0 = log_t0 + (i * i - i) / (2 * (sigma**2)) + log_e0
    log_s1 = log_t1 + (j * j - j) / (2 * (sigma**2)) + log_e1
    if sign > 0:
      log_a0 = _log_add(log_a0, log_s0)
      log_a1 = _log_add(log_a1, log_s1)
    else:
      log_a0 = _log_sub(log_a0, log_s0)
      log_a1 = _log_sub(log_a1, log_s1)
    i += 1
    # Deviation 2 (see the module docstring): also require falling terms.
    if max(log_s0, log_s1) < -30 and log_s0 < last_s0 and log_s1 < last_s1:
      break
    last_s0, last_s1 = log_s0, log_s1
  return _log_add(log_a0, log_a1)


def _compute_log_a(q, sigma, alpha):
  if float(alpha).is_integer():
    return _compute_log_a_int(q, sigma, int(alpha))
  return _compute_log_a_frac(q, sigma, alpha)


def compute_rdp_one_step(q, sigma, alpha):
  if q == 0:
    return 0.0
  if sigma == 0:
    return INF
  if q == 1.:
    return alpha / (2 * sigma**2)
  return _compute_log_a(q, sigma, alpha) / (alpha - 1)


def compute_rdp(q, sigma, steps, orders):
  return [compute_rdp_one_step(q, sigma, a) * steps for a in orders]


# --------------------------------------------------------------------------
# RDP -> (eps, delta).
# --------------------------------------------------------------------------


def compute_eps_improved(orders, rdp, delta):
  """TF Privacy _compute_eps (2020-2022) / dp_accounting compute_epsilon."""
  eps_vec = []
  for a, r in zip(orders, rdp):
    if delta**2 + math.expm1(-r) >= 0:
      eps = 0.0
    elif a > 1.01:
      eps = r + math.log1p(-1 / a) - math.log(delta * a) / (a - 1)
    else:
      eps = INF
    eps_vec.append(eps)
  idx = min(range(len(eps_vec)), key=lambda k: (eps_vec[k], k))
  return max(0.0, eps_vec[idx]), orders[idx]


def compute_eps_classic(orders, rdp, delta):
  """TF Privacy _compute_eps before 2020 (Mironov 2017, Prop. 3)."""
  eps_vec = [r - math.log(delta) / (a - 1) for a, r in zip(orders, rdp)]
  idx = min(range(len(eps_vec)), key=lambda k: (eps_vec[k], k))
  return eps_vec[idx], orders[idx]


# Opacus RDPAccountant.DEFAULT_ALPHAS; also the orders of TF Privacy's MNIST
# tutorial compute_epsilon.
DEFAULT_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))

# --------------------------------------------------------------------------
# Distributed discrete Gaussian (Kairouz, Liu, Steinke 2021), as in
# google-research/federated distributed_dp/accounting_utils.py.
# --------------------------------------------------------------------------


def ddg_tau(num_clients, local_stddev):
  tau = 0.0
  for k in range(1, num_clients):
    tau += math.exp(-2 * (math.pi * local_stddev)**2 * (k / (k + 1)))
  return 10 * tau


def ddg_rdp_one_step(l2_sens, l1_sens, local_stddev, num_clients, dim, order):
  """Proposition 14 / Eq. 17 of arXiv:2102.06387 (compute_rdp_dgaussian)."""
  tau = ddg_tau(num_clients, local_stddev)
  l2_scale = l2_sens / (math.sqrt(num_clients) * local_stddev)
  l1_scale = l1_sens / (math.sqrt(num_clients) * local_stddev)
  term_1 = (order / 2.0) * l2_scale**2 + tau * dim
  term_2 = (order / 2.0) * (l2_scale**2 + 2 * l1_scale * tau + tau**2 * dim)
  term_3 = (order / 2.0) * (l2_scale + math.sqrt(dim) * tau)**2
  return min(term_1, term_2, term_3)


def _logsumexp_weighted(a, b):
  m = max(x for x, w in zip(a, b) if w != 0)
  return m + math.log(math.fsum(w * math.exp(x - m) for x, w in zip(a, b)))


def rdp_subsampled(alpha, gamma, eps):
  """_compute_rdp_subsampled(upper_bound=True): Zhu & Wang 2019, Thm. 5."""
  alpha = int(alpha)
  a = [0.0, eps(2)]
  b = [((1 - gamma)**(alpha - 1)) * (alpha * gamma - gamma + 1),
       math.comb(alpha, 2) * (gamma**2) * (1 - gamma)**(alpha - 2)]
  for l in range(3, alpha + 1):
    log_comb = (math.lgamma(alpha + 1) - math.lgamma(l + 1) -
                math.lgamma(alpha - l + 1))
    a.append((l - 1) * eps(l) + log_comb + (alpha - l) * math.log(1 - gamma) +
             l * math.log(gamma))
    b.append(3)
  return _logsumexp_weighted(a, b) / (alpha - 1)


def ddg_rdp(q, l2_sens, l1_sens, local_stddev, num_clients, dim, order):
  def eps(o):
    return ddg_rdp_one_step(l2_sens, l1_sens, local_stddev, num_clients, dim,
                            o)
  if q == 1:
    return eps(order)
  return min(rdp_subsampled(order, q, eps), eps(order))


# --------------------------------------------------------------------------
# The table.
# --------------------------------------------------------------------------

RDP_QS = [1e-5, 1e-3, 256 / 60000, 0.01, 0.04, 0.1, 0.5, 0.99]
RDP_SIGMAS = [0.5, 0.8, 1.1, 1.5, 2.5, 5.0, 20.0, 100.0]
RDP_ORDERS = [1.1, 1.5, 1.75, 2.0, 2.5, 3.0, 4.5, 8.0, 10.9, 12.0, 20.5, 32.0,
              63.0, 64.5, 128.0, 200.5, 256.0]

EPS_QS = [1e-3, 256 / 60000, 0.01, 0.04, 0.1, 1.0]
EPS_SIGMAS = [0.5, 0.7, 1.0, 1.1, 1.5, 3.0, 10.0]
EPS_STEPS = [1, 10, 100, 1000, 10000]
EPS_DELTAS = [1e-3, 1e-5, 1e-8]

DDG_QS = [1.0, 0.1, 0.01]
DDG_CASES = [  # (l2, l1, local_stddev, num_clients, dim)
    (10.0, 30.0, 0.3, 2, 4),
    (10.0, 100.0, 0.3, 10, 100),
    (100.0, 1000.0, 0.6, 100, 1000),
    (50.0, 200.0, 1.0, 1000, 65536),
    (0.05, 5.0, 0.5, 2, 10000),  # l1 = sqrt(d) l2: the L1 term ties term 3
    (1.0, 1.0, 0.5, 2, 1),
]
DDG_ORDERS = [2, 3, 8, 32, 64]


def rows():
  """Yields (kind, inputs..., outputs...) rows as lists of strings."""
  for q in RDP_QS:
    for sigma in RDP_SIGMAS:
      for order in RDP_ORDERS:
        try:
          r = compute_rdp_one_step(q, sigma, order)
        except ValueError:
          continue  # TF Privacy's _log_sub would raise here as well.
        yield ['rdp', repr(q), repr(sigma), repr(order), repr(r)]
  for q in EPS_QS:
    for sigma in EPS_SIGMAS:
      one = compute_rdp(q, sigma, 1, DEFAULT_ORDERS)
      for steps in EPS_STEPS:
        rdp = [x * steps for x in one]
        for delta in EPS_DELTAS:
          e_imp, o_imp = compute_eps_improved(DEFAULT_ORDERS, rdp, delta)
          e_cls, o_cls = compute_eps_classic(DEFAULT_ORDERS, rdp, delta)
          yield ['eps', repr(q), repr(sigma), str(steps), repr(delta),
                 repr(e_imp), repr(float(o_imp)), repr(e_cls),
                 repr(float(o_cls))]
  for n in [2, 3, 10, 100]:
    for s in [0.1, 0.3, 0.5, 1.0]:
      yield ['ddg_tau', str(n), repr(s), repr(ddg_tau(n, s))]
  for q in DDG_QS:
    for (l2, l1, s, n, d) in DDG_CASES:
      for order in DDG_ORDERS:
        yield ['ddg_rdp', repr(q), repr(l2), repr(l1), repr(s), str(n), str(d),
               str(order), repr(ddg_rdp(q, l2, l1, s, n, d, order))]


HEADER = """\
# Reference values from tests/common/dp/reference/tf_privacy_rdp.py, a
# standard-library port of TF Privacy's rdp_accountant.py (== Opacus
# analysis/rdp.py), of both RDP->DP conversions, and of google-research/
# federated distributed_dp/accounting_utils.py.
# Generated by:
#   python3 tests/common/dp/reference/tf_privacy_rdp.py --emit \\
#     > tests/common/dp/testdata/tf_privacy_reference.tsv
# Checked by ctest tf_privacy_reference_regenerates (--check, 1e-12 relative)
# and by rdp_accountant_test / distributed_dp_accounting_test (C++, 1e-6).
# Row kinds (tab-separated):
#   rdp      q sigma order rdp_one_step
#   eps      q sigma steps delta eps_improved order_improved eps_classic
#            order_classic        (orders: Opacus DEFAULT_ALPHAS, 151 orders)
#   ddg_tau  num_clients local_stddev tau
#   ddg_rdp  q l2 l1 local_stddev num_clients dim order rdp_one_step
"""


def emit(out):
  out.write(HEADER)
  for row in rows():
    out.write('\t'.join(row) + '\n')


def _close(a, b, rtol):
  if a == b:
    return True
  if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
    return False
  return abs(a - b) <= rtol * max(abs(a), abs(b))


def check(path, rtol=1e-12):
  with open(path) as f:
    committed = [l.rstrip('\n').split('\t') for l in f
                 if l.strip() and not l.startswith('#')]
  fresh = list(rows())
  bad = 0
  if len(committed) != len(fresh):
    print(f'row count differs: committed {len(committed)}, fresh {len(fresh)}')
    bad += 1
  for c, g in zip(committed, fresh):
    if len(c) != len(g) or c[0] != g[0]:
      print(f'row shape differs: {c} vs {g}')
      bad += 1
      continue
    for x, y in zip(c[1:], g[1:]):
      if not _close(float(x), float(y), rtol):
        print(f'value differs: committed {c} fresh {g}')
        bad += 1
        break
  print(f'{len(fresh)} rows regenerated, {bad} mismatches (rtol {rtol})')
  return 0 if bad == 0 else 1


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  group = parser.add_mutually_exclusive_group(required=True)
  group.add_argument('--emit', action='store_true',
                     help='write the reference table to stdout')
  group.add_argument('--check', metavar='TSV',
                     help='regenerate and compare against TSV')
  args = parser.parse_args()
  if args.emit:
    emit(sys.stdout)
    return 0
  return check(args.check)


if __name__ == '__main__':
  sys.exit(main())
