#include "server/coordinator_config_evaluation.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/evaluation/eval_vector_codec.h"
#include "common/evaluation/site_eval_report.h"
#include "server/coordinator_config.h"

namespace fedlearn {
namespace {

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

void AddScheduleKeys(ConfigSchema<CoordinatorConfig>& s) {
  s.Field(
       "evaluation.every",
       "federated evaluation on the sites' held-out splits: k > 0 evaluates\n"
       "in training rounds 1, 1+k, 1+2k, ... (the model each starts from);\n"
       "0 = off",
       [](auto& c) -> auto& { return c.engine.evaluation.every; })
      .AtLeast(0);
  s.Field(
      "evaluation.final",
      "with every > 0: one evaluation-only round of the final model after\n"
      "the last round (evaluation.jsonl)",
      [](auto& c) -> auto& { return c.engine.evaluation.final; });
  s.Field(
       "evaluation.holdout_fraction",
       "share of each site's data held out (stratified by label), never "
       "trained on",
       [](auto& c) -> auto& { return c.federated_eval_spec.holdout_fraction; })
      .Within(0, 1, true, true);
  s.Field(
      "evaluation.split_seed", "seed of the held-out split; 0 = run.seed",
      [](auto& c) -> auto& { return c.federated_eval_spec.split_seed; });
  s.Field(
      "evaluation.per_site",
      "each site also reports its metrics in the clear and a per-site\n"
      "table is published (reveals every site's metrics to the "
      "coordinator,\neven with secure aggregation): trusted cross-silo runs "
      "only",
      [](auto& c) -> auto& { return c.engine.evaluation.per_site; });
  s.Field(
       "evaluation.max_examples",
       "public bound on one site's held-out count (sites evaluate at most\n"
       "this many; sizes the secure report)",
       [](auto& c) -> auto& { return c.engine.evaluation.max_examples; })
      .Within(1, static_cast<double>(kMaxEvalExamplesBound));
}

void AddLayoutKeys(ConfigSchema<CoordinatorConfig>& s) {
  s.Field(
       "evaluation.score_bins",
       "binary tasks: bins of P(class 1) for ROC-AUC and PR-AUC",
       [](auto& c) -> auto& { return c.federated_eval_spec.score_bins; })
      .Within(1, kMaxEvalBins);
  s.Field(
       "evaluation.accuracy_bins",
       "histogram of site accuracy (quantiles under secure aggregation)",
       [](auto& c) -> auto& { return c.federated_eval_spec.accuracy_bins; })
      .Within(1, kMaxEvalBins);
  s.Field(
       "evaluation.loss_bins", "histogram of site mean loss over [0, max_loss]",
       [](auto& c) -> auto& { return c.federated_eval_spec.loss_bins; })
      .Within(1, kMaxEvalBins);
  s.Field(
       "evaluation.max_loss", "per-example loss is clipped here",
       [](auto& c) -> auto& { return c.federated_eval_spec.max_loss; })
      .Within(0, kMaxEvalLoss, true, false);
  s.Field(
       "evaluation.accuracy_threshold", "sites below this accuracy are counted",
       [](auto& c) -> auto& {
         return c.federated_eval_spec.accuracy_threshold;
       })
      .Within(0, 1);
  s.Field(
      "evaluation.group_column",
      "tabular runs: a CSV column whose values define groups (e.g. sex);\n"
      "\"\" = no group metrics",
      [](auto& c) -> auto& { return c.federated_eval_spec.group_column; });
  s.Field(
      "evaluation.groups", "the group column's values (group index = position)",
      [](auto& c) -> auto& { return c.federated_eval_spec.groups; });
}

absl::Status ValidateGroups(const CoordinatorConfig& c) {
  const FederatedEvalSpecConfig& spec = c.federated_eval_spec;
  if (spec.group_column.empty() != spec.groups.empty()) {
    return Invalid(
        "evaluation.group_column and evaluation.groups go together: name the "
        "column and list its values, or set neither");
  }
  if (spec.groups.empty()) return absl::OkStatus();
  if (!c.data_schema.has_value()) {
    return Invalid(
        "evaluation.group_column needs a tabular run: declare [data] (image "
        "datasets have no columns)");
  }
  if (spec.groups.size() > static_cast<size_t>(kMaxEvalGroups)) {
    return Invalid(absl::StrCat("evaluation.groups lists more than ",
                                kMaxEvalGroups, " values"));
  }
  const std::set<std::string> distinct(spec.groups.begin(), spec.groups.end());
  if (distinct.size() != spec.groups.size()) {
    return Invalid("evaluation.groups lists a value twice");
  }
  return absl::OkStatus();
}

}  // namespace

void AddFederatedEvaluationKeys(ConfigSchema<CoordinatorConfig>& s) {
  AddScheduleKeys(s);
  AddLayoutKeys(s);
}

v1::EvaluationSpec ToEvaluationSpec(const CoordinatorConfig& c) {
  const FederatedEvalSpecConfig& f = c.federated_eval_spec;
  v1::EvaluationSpec spec;
  spec.set_holdout_fraction(f.holdout_fraction);
  spec.set_split_seed(f.split_seed != 0 ? f.split_seed : c.engine.seed);
  spec.set_score_bins(static_cast<uint32_t>(f.score_bins));
  spec.set_accuracy_bins(static_cast<uint32_t>(f.accuracy_bins));
  spec.set_loss_bins(static_cast<uint32_t>(f.loss_bins));
  spec.set_max_loss(f.max_loss);
  spec.set_accuracy_threshold(f.accuracy_threshold);
  spec.set_group_column(f.group_column);
  for (const std::string& g : f.groups) spec.add_groups(g);
  return spec;
}

absl::Status ValidateFederatedEvaluation(const CoordinatorConfig& c) {
  const FederatedEvaluationConfig& e = c.engine.evaluation;
  if (!e.enabled()) return absl::OkStatus();
  if (c.engine.dp.enabled()) {
    return Invalid(
        "[evaluation] every > 0 with dp.mode = \"" +
        std::string(DpModeName(c.engine.dp.mode)) +
        "\" is refused: each site's evaluation metrics would be released "
        "outside the privacy accountant. Set evaluation.every = 0 (the "
        "server-side test set, evaluation.dataset, still works) or dp.mode "
        "= \"off\"");
  }
  RETURN_IF_ERROR(ValidateGroups(c));
  v1::RunContract contract;
  contract.mutable_model()->set_num_classes(c.model.num_classes);
  *contract.mutable_evaluation() = ToEvaluationSpec(c);
  absl::StatusOr<EvalLayout> layout = EvalLayout::FromContract(contract);
  if (!layout.ok()) {
    return Invalid(absl::StrCat("[evaluation]: ", layout.status().message()));
  }
  const RoundEngineConfig& engine = c.engine;
  if (engine.secagg.enabled && engine.clients_per_round > 0) {
    absl::StatusOr<EvalVectorCodec> codec =
        EvalVectorCodec::Create(*layout, engine.secagg.modulus_bits,
                                engine.clients_per_round, e.max_examples);
    if (!codec.ok()) {
      return Invalid(absl::StrCat(
          "[evaluation] with secure aggregation (secagg.modulus_bits = ",
          engine.secagg.modulus_bits, ", rounds.clients_per_round = ",
          engine.clients_per_round, "): ", codec.status().message(),
          "; raise secagg.modulus_bits or lower evaluation.max_examples"));
    }
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
