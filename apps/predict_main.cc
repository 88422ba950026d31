// fedlearn-predict: a site applies a federated model to its own records.
//
// It reads the run's contract and the site's standardisation statistics from
// the site's state directory (written by fedlearn-client --state-dir), loads
// the records against the contract's schema (so columns and classes mean
// what they meant in training), standardises them with the statistics the
// site trained with (never refitted on the records being scored), and
// writes one prediction per record. With --evaluate (the file has labels)
// it prints accuracy and mean cross-entropy instead of only predicting.
#include <torch/torch.h>

#include <cstdio>
#include <fstream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/site_preparer.h"
#include "common/data/feature_standardizer.h"
#include "common/data/table_loader.h"
#include "common/models/torch_model.h"
#include "common/util/atomic_file.h"
#include "common/util/log.h"
#include "common/util/version.h"
#include "common/wire/model_file.h"
#include "common/wire/run_contract.h"

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "fedlearn-predict: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedlearn;
  CLI::App app{"fedlearn-predict: apply a federated model to local records"};
  app.set_version_flag("--version", VersionLine("predict"));
  std::string model_path, site_state, data_path, out_path, torchscript;
  std::string base_weights;
  std::string delimiter = ",";
  std::vector<std::string> ignore_columns;
  bool evaluate = false;
  app.add_option("--model", model_path,
                 "model file (the coordinator's models/round-NNNNNN.fmodel)")
      ->required();
  app.add_option("--site-state", site_state,
                 "this site's state directory (fedlearn-client --state-dir)")
      ->required();
  app.add_option("--data", data_path, "CSV records to score")->required();
  app.add_option("--out", out_path,
                 "write predictions here (CSV: row, class, probabilities); "
                 "default: stdout");
  app.add_option("--delimiter", delimiter, "CSV field delimiter")
      ->capture_default_str();
  app.add_option("--ignore-columns", ignore_columns, "CSV columns to skip")
      ->delimiter(',');
  app.add_option("--torchscript", torchscript,
                 "the site's module file, for a TorchScript run");
  app.add_option("--base-weights", base_weights,
                 "the pre-trained base of a run that froze parameters (the "
                 "model file holds only the trained ones)");
  app.add_flag("--evaluate", evaluate,
               "the records are labelled: print accuracy and loss");
  CLI11_PARSE(app, argc, argv);
  ConfigureLogging("warn");
  torch::set_num_threads(1);

  absl::StatusOr<std::string> contract_bytes =
      ReadFileToString(site_state + "/" + kSiteContractFile);
  if (!contract_bytes.ok()) {
    return Fail(absl::NotFoundError(absl::StrCat(
        site_state, " holds no run contract (", kSiteContractFile,
        "): run fedlearn-client with --state-dir ", site_state, " first")));
  }
  v1::RunContract contract;
  if (!contract.ParseFromString(*contract_bytes)) {
    return Fail(absl::DataLossError(
        absl::StrCat(site_state, "/", kSiteContractFile, " is corrupt")));
  }
  if (!contract.has_data()) {
    return Fail(absl::FailedPreconditionError(
        "the run has no data schema: fedlearn-predict scores tabular records"));
  }
  absl::StatusOr<TableSchema> schema = FromProto(contract.data());
  if (!schema.ok()) return Fail(schema.status());
  absl::StatusOr<std::string> stats_json =
      ReadFileToString(site_state + "/" + kSiteStandardizerFile);
  if (!stats_json.ok()) return Fail(stats_json.status());
  absl::StatusOr<FeatureStandardizer> standardizer =
      FeatureStandardizer::FromJson(*stats_json, schema->EncodedWidth());
  if (!standardizer.ok()) return Fail(standardizer.status());

  SiteTableOptions table;
  table.path = data_path;
  table.delimiter = delimiter.empty() ? ',' : delimiter[0];
  table.ignore_columns = ignore_columns;
  table.label_optional = !evaluate;
  TableLoadReport report;
  absl::StatusOr<Dataset> data = LoadTable(*schema, table, &report);
  if (!data.ok()) return Fail(data.status());
  if (absl::Status s = standardizer->Apply(&*data); !s.ok()) return Fail(s);

  absl::StatusOr<SavedModel> saved = ReadModelFile(model_path);
  if (!saved.ok()) return Fail(saved.status());
  if (absl::Status s =
          CheckModelMatchesContract(saved->model.spec, contract.model());
      !s.ok()) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat(model_path, " is not a model of run '", contract.run_id(),
                     "': ", s.message())));
  }
  absl::StatusOr<ModelSource> source =
      ModelSourceFromDefinition(contract.model(), torchscript);
  if (!source.ok()) return Fail(source.status());
  source->initial_weights = base_weights;
  if (!source->base_weights_sha256.empty() && base_weights.empty() &&
      source->architecture != "torchscript") {
    return Fail(absl::FailedPreconditionError(
        "the run froze parameters of a pre-trained model and its model files "
        "hold only the trained ones: give the base with --base-weights FILE"));
  }
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(*source, /*seed=*/0);
  if (!model.ok()) return Fail(model.status());
  if (absl::Status s = (*model)->LoadFlat(saved->model.values); !s.ok()) {
    return Fail(s);
  }

  const int64_t n = static_cast<int64_t>(data->size());
  std::vector<int64_t> shape = {n};
  shape.insert(shape.end(), data->sample_shape.begin(),
               data->sample_shape.end());
  torch::Tensor probabilities;
  double loss = 0;
  int64_t correct = 0;
  try {
    torch::NoGradGuard no_grad;
    (*model)->SetTraining(false);
    torch::Tensor x =
        torch::from_blob(data->features.data(), shape, torch::kFloat32);
    torch::Tensor logits = (*model)->Forward(x);
    probabilities = torch::softmax(logits, 1).contiguous();
    if (evaluate) {
      torch::Tensor y = torch::tensor(
          std::vector<int64_t>(data->labels.begin(), data->labels.end()),
          torch::kInt64);
      loss = torch::nn::functional::cross_entropy(logits, y).item<double>();
      correct = logits.argmax(1).eq(y).sum().item<int64_t>();
    }
  } catch (const std::exception& e) {
    return Fail(absl::InternalError(absl::StrCat("inference: ", e.what())));
  }

  std::string csv = "row,predicted";
  for (const std::string& c : data->class_names)
    absl::StrAppend(&csv, ",p_", c);
  csv += "\n";
  const float* p = probabilities.data_ptr<float>();
  const int64_t k = probabilities.size(1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j) {
      if (p[i * k + j] > p[i * k + best]) best = j;
    }
    absl::StrAppend(&csv, i + 1, ",", data->class_names[best]);
    for (int64_t j = 0; j < k; ++j) {
      absl::StrAppend(&csv, ",", absl::StrFormat("%.6f", p[i * k + j]));
    }
    csv += "\n";
  }
  if (!out_path.empty()) {
    if (absl::Status s = WriteFileAtomically(out_path, csv); !s.ok()) {
      return Fail(s);
    }
  } else if (!evaluate) {
    std::fputs(csv.c_str(), stdout);
  }
  if (evaluate) {
    std::printf("records %lld | accuracy %.4f | loss %.4f\n",
                static_cast<long long>(n), n > 0 ? double(correct) / n : 0.0,
                loss);
  }
  return 0;
}
