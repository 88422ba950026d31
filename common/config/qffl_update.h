// The q-FFL / q-FedAvg update as it crosses the wire (Li, Sanjabi, Beirami,
// Smith, ICLR 2020, "Fair Resource Allocation in Federated Learning",
// Algorithm 2), shared by the client that builds it
// (client/training/qffl_transform.h) and the coordinator that applies it
// (server/strategy/qffl.h).
//
// With w the global model, w_bar the locally trained one, delta = w_bar - w,
// F the global model's loss on the client's training set plus
// kQfflLossOffset, q >= 0 and L > 0 (the task's qffl_q and qffl_lipschitz):
//   Delta_k = F^q L (w - w_bar),   h_k = q F^(q-1) ||L (w - w_bar)||^2 + L F^q
//   w_next  = w - sum_k Delta_k / sum_k h_k.
// A client sends D + 1 values with example count 1 (every client weighs the
// same, so the aggregate's mean is the plain mean over clients):
//   u_j = -Delta_k,j / s  = F^q delta_j                        (j < D, s = L)
//   u_D =  h_k / s'       = (F^q + q F^(q-1) L ||delta||^2) / H (s' = L H)
// with H = kQfflDenominatorScale. Any common scale cancels in the ratio, so
//   w_next = w + mean(u_0..D-1) * s / (mean(u_D) * s')
//          = w + sum(u_0..D-1) / (H * sum(u_D)),
// which only needs the two sums: it composes with secure aggregation. L
// cancels too, so the coordinator needs neither L nor q to apply it. H is a
// power of two so that q = 0 (u_D = 1/H exactly) gives plain FedAvg with
// equal weights bit for bit. Header-only constants; thread-safe.
#ifndef FEDLEARN_COMMON_CONFIG_QFFL_UPDATE_H_
#define FEDLEARN_COMMON_CONFIG_QFFL_UPDATE_H_

#include <cstddef>

#include "common/config/training_config.h"

namespace fedlearn {

// H: the public scale of the denominator slot. In secure rounds u_D must fit
// the encoding's clip range c, i.e. F^q + q F^(q-1) L ||delta||^2 <= H c.
// The curvature term dominates after many local steps (a logistic
// regression's epoch on 20000 Fashion-MNIST images gives h/L ~ 200 at
// L = 10), hence 2^10; the cost is precision for q = 0, where u_D = 2^-10.
inline constexpr double kQfflDenominatorScale = 1024.0;
// Added to F before the powers, as the paper's reference code does
// (np.float_power(loss + 1e-10, q)), so F^(q-1) stays finite at F = 0.
inline constexpr double kQfflLossOffset = 1e-10;

// Whether a task asks for the q-FedAvg update.
inline bool QfflEnabled(const TrainingConfig& config) {
  return config.qffl_lipschitz > 0;
}

// Values in a q-FedAvg update for a model of `dimension` values.
inline size_t QfflUpdateValues(size_t dimension) { return dimension + 1; }

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CONFIG_QFFL_UPDATE_H_
