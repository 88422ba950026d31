#include "server/evaluation/torch_evaluator.h"

#include <ATen/Parallel.h>
#include <torch/nn/functional/loss.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/models/torch_model.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// Rows per forward call within a batch. A LeNet-5 batch of 1000 has 19 MB of
// conv1 activations, which fall out of the cache between the layers: 250
// rows run the same forward in ~60% of the time on one core (measured with
// the Debian LibTorch 1.13). The batch's loss is still one reduction over
// the whole batch, and the Debian LibTorch gives 250 rows bit for bit the
// logits it gives them within 1000 (not so at <= 100 rows, where oneDNN and
// OpenBLAS pick other kernels): `make demo-small`'s test accuracy and loss
// are unchanged to the last digit.
constexpr int64_t kForwardRows = 250;

struct BatchResult {
  double loss_sum = 0.0;
  int64_t correct = 0;
};

// The cross-entropy sum (one float reduction over the batch, as before
// chunking) and the number of correct predictions of rows [begin, end).
BatchResult EvaluateBatch(TorchModel& model, const LabeledTensors& data,
                          int64_t begin, int64_t end) {
  namespace F = torch::nn::functional;
  std::vector<torch::Tensor> chunks;
  for (int64_t row = begin; row < end; row += kForwardRows) {
    chunks.push_back(model.Forward(
        data.features.slice(0, row, std::min(row + kForwardRows, end))));
  }
  const torch::Tensor logits =
      chunks.size() == 1 ? chunks[0] : torch::cat(chunks);
  const torch::Tensor y = data.labels.slice(0, begin, end);
  BatchResult out;
  out.loss_sum =
      F::cross_entropy(logits, y,
                       F::CrossEntropyFuncOptions().reduction(torch::kSum))
          .item<double>();
  out.correct = logits.argmax(1).eq(y).sum().item<int64_t>();
  return out;
}

// How many threads evaluate at once: as many as the cores the intra-op pool
// leaves idle (the simulation sets it to one thread, one per training, and
// no training runs while the engine evaluates: the next round's tasks go
// out after the commit), never more than there are batches. One for
// TorchScript, whose forward may keep state.
int EvaluationThreads(TorchModel& model, int requested, int64_t batches) {
  int threads = requested;
  if (threads <= 0) {
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    threads = std::max(1, cores / std::max(1, at::get_num_threads()));
  }
  if (model.ZooNetwork() == nullptr) threads = 1;
  return static_cast<int>(std::clamp<int64_t>(threads, 1, batches));
}

// Stores the zoo model's 4-D (convolution) weights channels-last, so that
// oneDNN's convolutions return channels-last activations and the ReLU and
// max-pooling after them run their vectorised kernels: LeNet-5's forward
// takes ~25% less time on one core, with the same logits (checked as for
// kForwardRows). LoadFlat() copies into the tensors whatever their layout.
void UseChannelsLastConvolutions(TorchModel& model) {
  if (model.ZooNetwork() == nullptr) return;  // TorchScript: its own layout
  for (const torch::Tensor& p : model.Parameters()) {
    if (p.dim() == 4) {
      p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
}

}  // namespace

TorchEvaluator::TorchEvaluator(std::unique_ptr<TorchModel> model,
                               std::unique_ptr<LabeledTensors> data,
                               int64_t batch_size, int threads)
    : model_(std::move(model)),
      data_(std::move(data)),
      batch_size_(batch_size),
      threads_(threads) {}

TorchEvaluator::~TorchEvaluator() = default;

absl::StatusOr<std::unique_ptr<TorchEvaluator>> TorchEvaluator::Create(
    const ModelSource& source, Dataset test_data, int64_t batch_size,
    int threads) {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size must be >= 1, got ", batch_size));
  }
  // The initial parameters are irrelevant: Evaluate() loads its own.
  ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> model,
                   TorchModel::Create(source, /*seed=*/0));
  try {
    UseChannelsLastConvolutions(*model);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("evaluation model: ", DescribeTorchError(e)));
  }
  ASSIGN_OR_RETURN(LabeledTensors data,
                   PrepareDataset(std::move(test_data), *model));
  return std::unique_ptr<TorchEvaluator>(new TorchEvaluator(
      std::move(model), std::make_unique<LabeledTensors>(std::move(data)),
      batch_size, threads));
}

const ModelSpec& TorchEvaluator::Spec() const { return model_->Spec(); }

absl::StatusOr<EvalMetrics> TorchEvaluator::Evaluate(
    const FlatVector& parameters) {
  RETURN_IF_ERROR(model_->LoadFlat(parameters));
  const int64_t n = data_->labels.size(0);
  const int64_t batches = (n + batch_size_ - 1) / batch_size_;
  std::vector<BatchResult> results(batches);
  std::atomic<int64_t> next{0};
  std::mutex mu;
  std::string failure;  // the first worker's error, guarded by mu
  // Each worker claims the next batch until none is left; a batch's result
  // does not depend on which thread ran it.
  const auto work = [&](bool own_thread) {
    try {
      if (own_thread) at::init_num_threads();  // the intra-op pool's size
      torch::NoGradGuard no_grad;              // thread-local
      for (int64_t b = next++; b < batches; b = next++) {
        const int64_t begin = b * batch_size_;
        results[b] = EvaluateBatch(*model_, *data_, begin,
                                   std::min(begin + batch_size_, n));
      }
    } catch (const std::exception& e) {
      next = batches;
      std::lock_guard<std::mutex> lock(mu);
      if (failure.empty()) failure = DescribeTorchError(e);
    }
  };
  try {
    model_->SetTraining(false);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("evaluation failed: ", DescribeTorchError(e)));
  }
  std::vector<std::thread> helpers;
  const int threads = EvaluationThreads(*model_, threads_, batches);
  for (int t = 1; t < threads; ++t) {
    try {
      helpers.emplace_back(work, true);
    } catch (const std::system_error&) {
      break;  // no thread to be had: fewer threads, the same metrics
    }
  }
  work(false);
  for (std::thread& h : helpers) h.join();
  if (!failure.empty()) {
    return absl::InternalError(absl::StrCat("evaluation failed: ", failure));
  }
  // Summed in batch order, as one thread would: the metrics do not depend
  // on the number of threads.
  double loss_sum = 0.0;
  int64_t correct = 0;
  for (const BatchResult& r : results) {
    loss_sum += r.loss_sum;
    correct += r.correct;
  }
  EvalMetrics metrics;
  metrics.accuracy = static_cast<double>(correct) / n;
  metrics.loss = loss_sum / n;
  metrics.num_examples = n;
  return metrics;
}

}  // namespace fedlearn
