// fedlearn-merge-lora: folds a LoRA fine-tuning run's adapters into the
// layers they adapt and writes the merged model, in this system's model file
// format (common/wire/model_file.h), with the spec of the unadapted
// architecture: W' = W + (alpha / r) B A for every adapted layer, adapters
// dropped (common/models/lora_merge.h).
//
//   fedlearn-merge-lora --model state/models/round-000020.fmodel \
//       --base pretrained.fmodel --contract site-state/contract.pb \
//       --out merged.fmodel
//
// --model is a round's model file. When only the adapters trained, the
// run's files hold only them: --base gives the frozen base (the run's
// initial weights file) and each base tensor is taken from --model if it
// holds one of that name. alpha comes from --alpha or from the run contract
// a site saved (--contract; fedlearn-client --state-dir writes contract.pb).
//
// Exit status: 0 merged, 1 the files do not merge (stderr says why), 2 usage.
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/models/lora_merge.h"
#include "common/util/atomic_file.h"
#include "common/util/version.h"
#include "common/wire/model_file.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {
namespace {

struct MergeOptions {
  std::string model_path, base_path, contract_path, out_path;
  double alpha = 0;
};

absl::StatusOr<double> AlphaFromContract(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  v1::RunContract contract;
  if (!contract.ParseFromString(*bytes)) {
    return absl::DataLossError(
        absl::StrCat(path, " is not a run contract (contract.pb)"));
  }
  if (!contract.model().has_lora()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the run contract in ", path, " declares no LoRA adapters"));
  }
  return contract.model().lora().alpha();
}

absl::Status Merge(const MergeOptions& o) {
  double alpha = o.alpha;
  if (!o.contract_path.empty()) {
    absl::StatusOr<double> from_contract = AlphaFromContract(o.contract_path);
    if (!from_contract.ok()) return from_contract.status();
    alpha = *from_contract;
  }
  absl::StatusOr<SavedModel> adapted = ReadModelFile(o.model_path);
  if (!adapted.ok()) return adapted.status();
  FlatModel combined = std::move(adapted->model);
  if (!o.base_path.empty()) {
    // A model file, whose tensor order is the model's (a safetensors
    // header's order is not).
    absl::StatusOr<SavedModel> base = ReadModelFile(o.base_path);
    if (!base.ok()) return base.status();
    absl::StatusOr<FlatModel> overlaid = OverlayOnBase(base->model, combined);
    if (!overlaid.ok()) return overlaid.status();
    combined = *std::move(overlaid);
  }
  absl::StatusOr<LoraMergeResult> merged = MergeLoraAdapters(combined, alpha);
  if (!merged.ok()) {
    if (o.base_path.empty() &&
        merged.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::InvalidArgumentError(
          absl::StrCat(merged.status().message(),
                       "; if the run trained only the adapters, give the "
                       "base model with --base"));
    }
    return merged.status();
  }
  if (absl::Status s = WriteModelFile(o.out_path, adapted->ref, merged->model);
      !s.ok()) {
    return s;
  }
  std::printf(
      "merged %d adapted layer(s) (alpha %g), dropped %lld adapter values; "
      "wrote %s: %zu tensors, %zu values\n",
      merged->merged_layers, alpha,
      static_cast<long long>(merged->dropped_values), o.out_path.c_str(),
      merged->model.spec.tensors.size(), merged->model.values.size());
  return absl::OkStatus();
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) {
  CLI::App app{
      "fedlearn-merge-lora: fold a run's LoRA adapters into the base model"};
  app.set_version_flag("--version", fedlearn::VersionLine("merge-lora"));
  fedlearn::MergeOptions o;
  app.add_option("--model", o.model_path,
                 "a round's model file (models/round-NNNNNN.fmodel) holding "
                 "the adapters")
      ->required();
  app.add_option("--base", o.base_path,
                 "the base model file (the run's initial_weights, .fmodel), "
                 "for a run whose files hold only the trained tensors");
  CLI::Option* alpha = app.add_option("--alpha", o.alpha,
                                      "the run's lora_alpha (scaling "
                                      "alpha / rank)");
  CLI::Option* contract = app.add_option(
      "--contract", o.contract_path,
      "the run contract a site saved (STATE_DIR/contract.pb), for alpha");
  alpha->excludes(contract);
  app.add_option("--out", o.out_path, "write the merged model file here")
      ->required();
  try {
    app.parse(argc, argv);
    if (alpha->count() + contract->count() == 0) {
      throw CLI::RequiredError("--alpha or --contract");
    }
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (absl::Status s = fedlearn::Merge(o); !s.ok()) {
    std::fprintf(stderr, "fedlearn-merge-lora: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
