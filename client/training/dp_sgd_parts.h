// The pieces of one DP-SGD step (Abadi et al. 2016, "Deep Learning with
// Differential Privacy", Algorithm 1), with LibTorch types: for dp_sgd.cc
// and its tests only (everything else uses the torch-free dp_sgd.h).
//
//   PoissonSample        the lot: each example independently with prob. q
//   PerExampleGradients  g_i = grad of example i's loss, for every i
//   PerExampleNorms      ||g_i||_2 over all trainable parameters
//   ClipFactors          min(1, C / (||g_i|| + 1e-6)) (Opacus's formula)
//   SumClipped           sum_i factor_i g_i
//   AddGaussianNoise     + N(0, (sigma C)^2) per coordinate, from NoiseSource
//
// Per-example gradients, two methods with the same result (tested against
// one backward pass per example):
//  - layerwise, for zoo networks (torch::nn::Sequential) whose parameters all
//    sit in Linear layers and in Conv2d layers with groups = 1, zero padding
//    given as numbers: one forward and one backward pass of the whole batch.
//    With a_i a layer's input and g_i the gradient of the summed loss with
//    respect to its output (= the gradient of example i's own loss, since
//    the examples do not interact),
//      Linear: dW_i = g_i^T a_i (outer product), db_i = g_i
//      Conv2d: dW_i = g_i unfold(a_i)^T (im2col), db_i = sum_positions g_i
//    (Goodfellow 2015, "Efficient Per-Example Gradient Computations";
//    Opacus's grad samplers compute the same).
//  - microbatches of one, for everything else (TorchScript modules, layers
//    the layerwise method does not know): one forward/backward per example.
// Only parameters with requires_grad take part; a frozen parameter's entry
// is an undefined tensor everywhere below.
//
// Refuses (FailedPrecondition, at Create): a model with floating-point
// buffers. BatchNorm, the zoo's only such layer, normalises each example by
// statistics of the whole batch, so an example's gradient depends on the
// others and clipping it bounds nothing; its running statistics are computed
// from the records outside the clipped gradient. Opacus refuses it too.
// Not thread-safe (it drives the model's forward pass).
#ifndef FEDLEARN_CLIENT_TRAINING_DP_SGD_PARTS_H_
#define FEDLEARN_CLIENT_TRAINING_DP_SGD_PARTS_H_

#include <torch/types.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dp/noise_source.h"

namespace fedlearn {

class TorchModel;

// Indices (int64, ascending) of the examples of [0, n) drawn into one lot:
// example k joins iff NoiseSource::UniformOpen01() < q, independently (the
// Poisson sampling the RDP accountant assumes). May be empty. REQUIRES:
// 0 <= q <= 1.
torch::Tensor PoissonSample(NoiseSource& source, int64_t n, double q);

class PerExampleGradients {
 public:
  enum class Method { kLayerwise, kMicrobatch };

  // Picks the layerwise method when the model allows it, else microbatches
  // (`force_microbatch`: always microbatches, for tests and benchmarks).
  // FailedPrecondition for a model with floating-point buffers or without a
  // trainable parameter.
  static absl::StatusOr<PerExampleGradients> Create(
      TorchModel& model, bool force_microbatch = false);

  Method method() const { return method_; }

  // For a batch x [B, ...], labels y [B]: one tensor per model parameter
  // (TorchModel::Parameters() order), [B, parameter shape...] for trainable
  // ones, undefined for frozen ones. `losses` (if not null) gets the
  // per-example cross-entropy [B], detached. The parameters' .grad are not
  // touched. May throw LibTorch exceptions.
  std::vector<torch::Tensor> Compute(const torch::Tensor& x,
                                     const torch::Tensor& y,
                                     torch::Tensor* losses);

 private:
  struct Layer;  // a Linear or Conv2d layer of the zoo's Sequential
  PerExampleGradients(TorchModel* model, Method method,
                      std::shared_ptr<std::vector<Layer>> layers);
  std::vector<torch::Tensor> Layerwise(const torch::Tensor& x,
                                       const torch::Tensor& y,
                                       torch::Tensor* losses);
  std::vector<torch::Tensor> Microbatch(const torch::Tensor& x,
                                        const torch::Tensor& y,
                                        torch::Tensor* losses);

  TorchModel* model_;
  Method method_;
  std::shared_ptr<std::vector<Layer>> layers_;
};

// ||g_i||_2 over all defined tensors of `grads` (each [B, ...]), as float64
// [B]. B = 0 gives an empty tensor.
torch::Tensor PerExampleNorms(const std::vector<torch::Tensor>& grads);

// min(1, clip / (norm + 1e-6)) per example, float64 [B]: after scaling,
// every example's norm is < clip, and one already within clip - 1e-6 keeps
// its gradient unchanged. REQUIRES: clip > 0.
torch::Tensor ClipFactors(const torch::Tensor& norms, double clip);

// sum_i factors_i * grads[p][i] for each defined grads[p] (float32, the
// parameter's shape; zeros for B = 0); undefined where grads[p] is.
std::vector<torch::Tensor> SumClipped(const std::vector<torch::Tensor>& grads,
                                      const torch::Tensor& factors);

// values[p] += N(0, stddev^2) independently per coordinate, for each defined
// tensor (float32, contiguous). Each draw is a float64 Gaussian from
// `source` (polar Box-Muller on AES-CTR output); the sum value + draw is
// formed in float64 and rounded to float32 once (NoiseSource::AddGaussian).
void AddGaussianNoise(std::vector<torch::Tensor>& values, double stddev,
                      NoiseSource& source);

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_DP_SGD_PARTS_H_
