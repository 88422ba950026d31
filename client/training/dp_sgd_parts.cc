#include "client/training/dp_sgd_parts.h"

#include <torch/autograd.h>
#include <torch/nn/functional/fold.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/models/torch_model.h"

namespace fedlearn {

namespace F = torch::nn::functional;

struct PerExampleGradients::Layer {
  torch::nn::LinearImpl* linear = nullptr;  // exactly one of linear, conv
  torch::nn::Conv2dImpl* conv = nullptr;
  // Indices into TorchModel::Parameters() of the weight and bias (-1: none
  // or frozen).
  int weight_index = -1;
  int bias_index = -1;
};

namespace {

// Index of `t` (same tensor, shared storage) in `params`, or -1 if `t` is
// undefined, frozen or not there.
int IndexOf(const std::vector<torch::Tensor>& params, const torch::Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return -1;
  for (size_t k = 0; k < params.size(); ++k) {
    if (params[k].unsafeGetTensorImpl() == t.unsafeGetTensorImpl()) {
      return static_cast<int>(k);
    }
  }
  return -1;
}

// A Conv2d the im2col formula covers: groups 1, zeros padding given as
// numbers (not "same"/"valid").
bool IsPlainConv(const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  return o.groups() == 1 &&
         c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()) &&
         c10::holds_alternative<torch::ExpandingArray<2>>(o.padding());
}

}  // namespace

torch::Tensor PoissonSample(NoiseSource& source, int64_t n, double q) {
  std::vector<int64_t> picked;
  picked.reserve(static_cast<size_t>(q * n * 1.2) + 8);
  for (int64_t k = 0; k < n; ++k) {
    if (source.UniformOpen01() < q) picked.push_back(k);
  }
  torch::Tensor out =
      torch::empty({static_cast<int64_t>(picked.size())}, torch::kInt64);
  std::copy(picked.begin(), picked.end(), out.data_ptr<int64_t>());
  return out;
}

PerExampleGradients::PerExampleGradients(
    TorchModel* model, Method method,
    std::shared_ptr<std::vector<Layer>> layers)
    : model_(model), method_(method), layers_(std::move(layers)) {}

absl::StatusOr<PerExampleGradients> PerExampleGradients::Create(
    TorchModel& model, bool force_microbatch) {
  if (model.BuffersToFlat().size() > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "record-level DP-SGD cannot train ", model.Spec().architecture,
        ": it has BatchNorm (or other floating-point buffers), which mixes "
        "the examples of a batch, so no per-example gradient exists to clip, "
        "and whose running statistics are computed from the records outside "
        "the privatised gradient (Opacus refuses it too); use a model "
        "without BatchNorm (mlp, lenet5, or GroupNorm/LayerNorm in a "
        "TorchScript module)"));
  }
  const std::vector<torch::Tensor>& params = model.Parameters();
  bool trainable = false;
  for (const torch::Tensor& p : params) trainable |= p.requires_grad();
  if (!trainable) {
    return absl::FailedPreconditionError(
        "record-level DP-SGD: the model has no trainable parameter");
  }
  auto layers = std::make_shared<std::vector<Layer>>();
  auto* seq = dynamic_cast<torch::nn::SequentialImpl*>(model.ZooNetwork());
  bool layerwise = seq != nullptr && !force_microbatch;
  size_t covered = 0;
  for (size_t i = 0; layerwise && i < seq->size(); ++i) {
    const std::shared_ptr<torch::nn::Module> m = seq->ptr(i);  // NOLINT
    Layer layer;
    torch::Tensor weight, bias;
    if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(m.get())) {
      layer.linear = linear;
      weight = linear->weight;
      bias = linear->bias;
    } else if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(m.get());
               conv != nullptr && IsPlainConv(*conv)) {
      layer.conv = conv;
      weight = conv->weight;
      bias = conv->bias;
    } else {
      // A layer with parameters this method does not know.
      layerwise = m->parameters(/*recurse=*/true).empty();
      continue;
    }
    layer.weight_index = IndexOf(params, weight);
    layer.bias_index = IndexOf(params, bias);
    covered += (layer.weight_index >= 0) + (layer.bias_index >= 0);
    layers->push_back(layer);
  }
  size_t num_trainable = 0;
  for (const torch::Tensor& p : params) num_trainable += p.requires_grad();
  // Every trainable parameter must belong to a known layer.
  layerwise = layerwise && covered == num_trainable;
  if (!layerwise) layers->clear();
  return PerExampleGradients(
      &model, layerwise ? Method::kLayerwise : Method::kMicrobatch,
      std::move(layers));
}

std::vector<torch::Tensor> PerExampleGradients::Compute(const torch::Tensor& x,
                                                        const torch::Tensor& y,
                                                        torch::Tensor* losses) {
  return method_ == Method::kLayerwise ? Layerwise(x, y, losses)
                                       : Microbatch(x, y, losses);
}

std::vector<torch::Tensor> PerExampleGradients::Layerwise(
    const torch::Tensor& x, const torch::Tensor& y, torch::Tensor* losses) {
  auto* seq = dynamic_cast<torch::nn::SequentialImpl*>(model_->ZooNetwork());
  const int64_t b = x.size(0);
  // The forward pass of the Sequential, keeping each known layer's input
  // and output.
  std::vector<torch::Tensor> inputs, outputs;
  size_t next = 0;
  torch::Tensor a = x;
  for (torch::nn::AnyModule& any : *seq) {
    const torch::nn::Module* m = any.ptr().get();
    const bool known =
        next < layers_->size() &&
        (m == (*layers_)[next].linear || m == (*layers_)[next].conv);
    torch::Tensor z = any.forward(a);
    if (known) {
      inputs.push_back(a.detach());
      outputs.push_back(z);
      ++next;
    }
    a = z;
  }
  const torch::Tensor per_example = F::cross_entropy(
      a, y, F::CrossEntropyFuncOptions().reduction(torch::kNone));
  if (losses != nullptr) *losses = per_example.detach();
  // Layers without a trainable parameter may have outputs without grad.
  std::vector<torch::Tensor> wanted;
  std::vector<size_t> wanted_layer;
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (outputs[k].requires_grad()) {
      wanted.push_back(outputs[k]);
      wanted_layer.push_back(k);
    }
  }
  const std::vector<torch::Tensor> grad_out =
      torch::autograd::grad({per_example.sum()}, wanted);

  std::vector<torch::Tensor> result(model_->Parameters().size());
  for (size_t w = 0; w < wanted.size(); ++w) {
    const Layer& layer = (*layers_)[wanted_layer[w]];
    const torch::Tensor& input = inputs[wanted_layer[w]];
    torch::Tensor g, u;  // g [B, out, L], u [B, in, L]
    if (layer.linear != nullptr) {
      // [B, ..., features] -> positions L = the middle dimensions.
      g = grad_out[w].reshape({b, -1, grad_out[w].size(-1)}).transpose(1, 2);
      u = input.reshape({b, -1, input.size(-1)}).transpose(1, 2);
    } else {
      const auto& o = layer.conv->options;
      const auto& pad = c10::get<torch::ExpandingArray<2>>(o.padding());
      u = F::unfold(input, F::UnfoldFuncOptions(o.kernel_size())
                               .dilation(o.dilation())
                               .padding(*pad)
                               .stride(o.stride()));
      g = grad_out[w].reshape({b, grad_out[w].size(1), -1});
    }
    if (layer.weight_index >= 0) {
      const torch::Tensor& weight = model_->Parameters()[layer.weight_index];
      std::vector<int64_t> shape = {b};
      shape.insert(shape.end(), weight.sizes().begin(), weight.sizes().end());
      result[layer.weight_index] =
          torch::bmm(g, u.transpose(1, 2)).reshape(shape);
    }
    if (layer.bias_index >= 0) result[layer.bias_index] = g.sum(2);
  }
  return result;
}

std::vector<torch::Tensor> PerExampleGradients::Microbatch(
    const torch::Tensor& x, const torch::Tensor& y, torch::Tensor* losses) {
  const std::vector<torch::Tensor>& params = model_->Parameters();
  std::vector<torch::Tensor> trainable;
  for (const torch::Tensor& p : params) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  const int64_t b = x.size(0);
  std::vector<std::vector<torch::Tensor>> rows(trainable.size());
  torch::Tensor loss_values = torch::empty({b}, torch::kFloat32);
  for (int64_t i = 0; i < b; ++i) {
    const torch::Tensor loss = F::cross_entropy(
        model_->Forward(x.slice(0, i, i + 1)), y.slice(0, i, i + 1));
    loss_values[i] = loss.detach();
    std::vector<torch::Tensor> g = torch::autograd::grad(
        {loss}, trainable, /*grad_outputs=*/{}, /*retain_graph=*/false,
        /*create_graph=*/false, /*allow_unused=*/true);
    for (size_t k = 0; k < g.size(); ++k) {
      rows[k].push_back(g[k].defined() ? g[k]
                                       : torch::zeros_like(trainable[k]));
    }
  }
  if (losses != nullptr) *losses = loss_values;
  std::vector<torch::Tensor> result(params.size());
  for (size_t p = 0, k = 0; p < params.size(); ++p) {
    if (!params[p].requires_grad()) continue;
    std::vector<int64_t> shape = {b};
    shape.insert(shape.end(), params[p].sizes().begin(),
                 params[p].sizes().end());
    result[p] = b == 0 ? torch::zeros(shape) : torch::stack(rows[k]);
    ++k;
  }
  return result;
}

torch::Tensor PerExampleNorms(const std::vector<torch::Tensor>& grads) {
  torch::Tensor squares;
  for (const torch::Tensor& g : grads) {
    if (!g.defined()) continue;
    // LibTorch's norm reduces in float32 with cascaded sums (error of a few
    // ulps); squared and summed across tensors in float64.
    const torch::Tensor s =
        g.reshape({g.size(0), -1}).norm(2, {1}).to(torch::kFloat64).square();
    squares = squares.defined() ? squares + s : s;
  }
  return squares.defined() ? squares.sqrt()
                           : torch::zeros({0}, torch::kFloat64);
}

torch::Tensor ClipFactors(const torch::Tensor& norms, double clip) {
  return (clip / (norms + 1e-6)).clamp_max(1.0);
}

std::vector<torch::Tensor> SumClipped(const std::vector<torch::Tensor>& grads,
                                      const torch::Tensor& factors) {
  const torch::Tensor f = factors.to(torch::kFloat32);
  std::vector<torch::Tensor> out(grads.size());
  for (size_t p = 0; p < grads.size(); ++p) {
    const torch::Tensor& g = grads[p];
    if (!g.defined()) continue;
    const auto shape = g.sizes().slice(1);
    out[p] = g.size(0) == 0
                 ? torch::zeros(shape, torch::kFloat32)
                 : torch::mv(g.reshape({g.size(0), -1}).t(), f).reshape(shape);
  }
  return out;
}

void AddGaussianNoise(std::vector<torch::Tensor>& values, double stddev,
                      NoiseSource& source) {
  for (torch::Tensor& v : values) {
    if (!v.defined()) continue;
    v = v.contiguous();
    source.AddGaussian(absl::MakeSpan(v.data_ptr<float>(), v.numel()), stddev);
  }
}

}  // namespace fedlearn
