#include "server/coordinator_config.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "common/secagg/input_encoding.h"
#include "common/util/atomic_file.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "server/coordinator_config_lora.h"
#include "server/coordinator_config_pretrained.h"
#include "server/coordinator_config_robust.h"
#include "server/strategy/qffl.h"

namespace fedlearn {
namespace {

absl::Status Invalid(const std::string& origin, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(origin, ": ", message));
}

// "origin: 'key': message" for a refused name (label_match, missing_values).
template <typename T>
absl::Status ParseNamed(const ConfigValues& values, const std::string& key,
                        absl::StatusOr<T> (*parse)(absl::string_view), T* out) {
  const std::string* name = values.Find<std::string>(key);
  if (name == nullptr) return absl::OkStatus();
  absl::StatusOr<T> parsed = parse(*name);
  if (!parsed.ok()) {
    return Invalid(values.origin,
                   absl::StrCat("'", key, "': ", parsed.status().message()));
  }
  *out = *parsed;
  return absl::OkStatus();
}

// [[data.columns]]: name, type ("numeric" | "categorical"), categories.
absl::Status ParseDataColumns(const ConfigValues& values, TableSchema* schema) {
  const auto* rows = values.Find<std::vector<ConfigRow>>("data.columns");
  if (rows == nullptr) return absl::OkStatus();
  if (!schema->features.empty()) {
    return Invalid(values.origin,
                   "give either 'data.numeric_features' or [[data.columns]], "
                   "not both");
  }
  for (const ConfigRow& row : *rows) {
    FeatureColumn f;
    auto field = [&row](const char* key) {
      auto it = row.find(key);
      return it == row.end() ? nullptr : &it->second;
    };
    if (const ConfigScalar* v = field("name"))
      f.name = std::get<std::string>(*v);
    const ConfigScalar* type = field("type");
    absl::StatusOr<FeatureColumn::Type> parsed = ParseFeatureType(
        type == nullptr ? "numeric" : std::get<std::string>(*type));
    if (!parsed.ok()) {
      return Invalid(values.origin,
                     absl::StrCat("[[data.columns]] '", f.name,
                                  "': ", parsed.status().message()));
    }
    f.type = *parsed;
    if (const ConfigScalar* v = field("categories")) {
      f.categories = std::get<std::vector<std::string>>(*v);
    }
    schema->features.push_back(std::move(f));
  }
  return absl::OkStatus();
}

// [data]: the run's data contract, absent for image datasets.
absl::StatusOr<std::optional<TableSchema>> ParseDataSchema(
    const ConfigValues& values) {
  bool present = false;
  for (const auto& [key, unused] : values.values) {
    present = present || key.rfind("data.", 0) == 0;
  }
  if (!present) return std::optional<TableSchema>();
  TableSchema schema;
  const std::string* label = values.Find<std::string>("data.label_column");
  if (label == nullptr) {
    return Invalid(values.origin,
                   "'data.label_column' is required (a string) when [data] "
                   "is present");
  }
  schema.label_column = *label;
  const auto* classes = values.Find<std::vector<std::string>>("data.classes");
  if (classes == nullptr || classes->empty()) {
    return Invalid(values.origin,
                   "'data.classes' is required: the class vocabulary, class 0 "
                   "first (it is never inferred from a site's data)");
  }
  schema.classes = *classes;
  if (const auto* numeric =
          values.Find<std::vector<std::string>>("data.numeric_features")) {
    for (const std::string& name : *numeric) {
      schema.features.push_back(
          FeatureColumn{name, FeatureColumn::Type::kNumeric, {}});
    }
  }
  RETURN_IF_ERROR(ParseDataColumns(values, &schema));
  RETURN_IF_ERROR(ParseNamed<LabelMatch>(
      values, "data.label_match", &ParseLabelMatch, &schema.label_match));
  RETURN_IF_ERROR(ParseNamed<MissingValuePolicy>(values, "data.missing_values",
                                                 &ParseMissingValuePolicy,
                                                 &schema.missing));
  if (const auto* markers =
          values.Find<std::vector<std::string>>("data.missing_markers")) {
    schema.missing_markers = *markers;
  }
  if (absl::Status s = schema.Validate(); !s.ok()) {
    return Invalid(values.origin, absl::StrCat("[data]: ", s.message()));
  }
  return std::optional<TableSchema>(std::move(schema));
}

// The schema fixes the model's input width and classes; an explicit [model]
// value that disagrees is an error, not a silent override.
absl::Status ApplyDataSchemaToModel(const ConfigValues& values,
                                    CoordinatorConfig* c) {
  if (!c->data_schema.has_value()) return absl::OkStatus();
  const std::vector<int64_t> width = {c->data_schema->EncodedWidth()};
  const int32_t classes = static_cast<int32_t>(c->data_schema->classes.size());
  if (values.Has("model.input_shape") && c->model.input_shape != width) {
    return Invalid(values.origin,
                   absl::StrCat("model.input_shape disagrees with [data], "
                                "whose columns encode to ",
                                width[0],
                                " values per row; remove model.input_shape "
                                "(it follows from [data])"));
  }
  if (values.Has("model.num_classes") && c->model.num_classes != classes) {
    return Invalid(values.origin,
                   absl::StrCat("model.num_classes = ", c->model.num_classes,
                                " but data.classes lists ", classes,
                                "; remove model.num_classes (it follows from "
                                "[data])"));
  }
  c->model.input_shape = width;
  c->model.num_classes = classes;
  return absl::OkStatus();
}

absl::Status ValidateDataSource(const DataSourceConfig& data,
                                const char* section, bool allow_none) {
  if (data.kind.empty() && allow_none) return absl::OkStatus();
  if (data.kind != "fashion-mnist" && data.kind != "csv") {
    return absl::InvalidArgumentError(absl::StrCat(
        section, ".dataset must be \"fashion-mnist\" or \"csv\"",
        allow_none ? " (or empty for none)" : "", ", got \"", data.kind, "\""));
  }
  if (data.kind == "csv" && data.path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(section, ".path is required for csv"));
  }
  return absl::OkStatus();
}

// [rounds] and [run] rules that involve more than one key.
absl::Status ValidateRounds(const CoordinatorConfig& c) {
  const RoundEngineConfig& e = c.engine;
  if (e.run_id.empty()) {
    return absl::InvalidArgumentError("run.id must not be empty");
  }
  const std::vector<std::string>& levels = LogLevelNames();
  if (std::find(levels.begin(), levels.end(), c.log_level) == levels.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "[run] log_level = \"", c.log_level,
        "\" is not a log level; use trace, debug, info, warn, error, "
        "critical or off"));
  }
  if (e.clients_per_round == 0 && !(e.fraction > 0 && e.fraction <= 1)) {
    return absl::InvalidArgumentError(
        "rounds.fraction must be in (0, 1] when rounds.clients_per_round = 0");
  }
  if (!e.dp.enabled() && e.clients_per_round > 0 &&
      e.min_updates > e.clients_per_round) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rounds.min_updates (", e.min_updates,
        ") exceeds rounds.clients_per_round (", e.clients_per_round,
        "): no round could ever be aggregated"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSecAgg(const CoordinatorConfig& c) {
  const RoundEngineConfig& e = c.engine;
  if (!e.secagg.enabled) return absl::OkStatus();
  if (c.tls.insecure) {
    return absl::InvalidArgumentError(
        "secure aggregation needs mutual TLS: clients sign their keys with "
        "their certificates. Use --insecure only together with [secagg] "
        "enabled = false");
  }
  if (e.min_clients < 3 ||
      (!e.dp.enabled() && e.clients_per_round > 0 && e.clients_per_round < 3)) {
    return absl::InvalidArgumentError(
        "secure aggregation needs at least 3 clients per round: raise "
        "rounds.min_clients and rounds.clients_per_round to 3 or more, or "
        "set secagg.enabled = false");
  }
  if (absl::Status s = e.secagg.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("[secagg]: ", s.message()));
  }
  // With a fixed cohort size, an encoding whose sum could overflow for it is
  // refused now, not when round 1 starts.
  if (e.clients_per_round > 0 && !e.dp.enabled()) {
    if (absl::StatusOr<InputEncoder> encoder =
            InputEncoder::Create(e.secagg.Encoding(e.clients_per_round));
        !encoder.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "[secagg] with rounds.clients_per_round = ", e.clients_per_round,
          ": ", encoder.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDp(const CoordinatorConfig& c) {
  const DpConfig& dp = c.engine.dp;
  if (!dp.enabled()) return absl::OkStatus();
  if (dp.mode == DpConfig::Mode::kDistributed && !c.engine.secagg.enabled) {
    return absl::InvalidArgumentError(
        "dp.mode = \"distributed\" needs secure aggregation (each client's "
        "noise only protects it inside a sum): set secagg.enabled = true or "
        "use dp.mode = \"central\"");
  }
  if (dp.noise_multiplier == 0 && dp.target_epsilon == 0) {
    return absl::InvalidArgumentError(
        "dp is on but has no noise: set dp.noise_multiplier, or "
        "dp.target_epsilon to have it calibrated for the run's rounds");
  }
  if (dp.noise_multiplier > 0 && dp.target_epsilon > 0) {
    return absl::InvalidArgumentError(
        "set either dp.noise_multiplier or dp.target_epsilon, not both");
  }
  return absl::OkStatus();
}

absl::Status ValidateModelAndData(const CoordinatorConfig& c) {
  RETURN_IF_ERROR(ValidatePretrainedModel(c.model));
  if (c.model.architecture == "torchscript" &&
      c.model.torchscript_path.empty()) {
    return absl::InvalidArgumentError(
        "model.torchscript (a file path) is required for architecture "
        "torchscript");
  }
  RETURN_IF_ERROR(ValidateLoraModel(c.model));
  RETURN_IF_ERROR(ValidateDataSource(c.evaluation, "evaluation", true));
  if (c.evaluation.kind == "csv" && !c.data_schema.has_value()) {
    return absl::InvalidArgumentError(
        "evaluation.dataset = \"csv\" needs the run's data schema: declare "
        "[data] (label_column, classes, columns)");
  }
  return ValidateDataSource(c.simulation.train_data, "simulation", false);
}

// [data] and its [[data.columns]], in the form ParseDataSchema reads.
std::string RenderDataSchema(const TableSchema& schema) {
  std::string out = absl::StrCat(
      "\n[data]\nlabel_column = ", FormatConfigValue(schema.label_column),
      "\nclasses = ", FormatConfigValue(schema.classes), "\nlabel_match = ",
      FormatConfigValue(std::string(LabelMatchName(schema.label_match))),
      "\nmissing_values = ",
      FormatConfigValue(std::string(MissingValuePolicyName(schema.missing))),
      "\nmissing_markers = ", FormatConfigValue(schema.missing_markers), "\n");
  for (const FeatureColumn& f : schema.features) {
    absl::StrAppend(
        &out, "\n[[data.columns]]\nname = ", FormatConfigValue(f.name),
        "\ntype = ", FormatConfigValue(std::string(FeatureTypeName(f.type))),
        "\n");
    if (f.type == FeatureColumn::Type::kCategorical) {
      absl::StrAppend(&out, "categories = ", FormatConfigValue(f.categories),
                      "\n");
    }
  }
  return out;
}

}  // namespace

std::string RenderCoordinatorConfig(const CoordinatorConfig& config) {
  std::string out = CoordinatorConfigSchema().RenderValues(
      config,
      "The effective configuration of this run (file and command line), as "
      "the\ncoordinator started it. Written at every start; it parses back "
      "with\n`fedlearn-coordinator --config`.");
  if (config.data_schema.has_value()) {
    out += RenderDataSchema(*config.data_schema);
  }
  return out;
}

CoordinatorConfig DefaultCoordinatorConfig() {
  CoordinatorConfig config;
  config.engine.run_id = "fashion-mnist-demo";
  config.engine.num_rounds = 20;
  config.engine.min_clients = 10;
  config.engine.clients_per_round = 10;
  config.engine.min_updates = 8;
  config.engine.round_timeout = std::chrono::seconds(120);
  config.engine.seed = 1;
  config.engine.training.optimizer = TrainingConfig::Optimizer::kSgd;
  config.engine.training.learning_rate = 0.05;
  config.engine.training.momentum = 0.9;
  config.engine.training.weight_decay = 1e-4;
  config.engine.training.local_epochs = 1;
  config.engine.training.batch_size = 32;
  config.engine.training.seed = 1;
  config.tls = TlsConfig::FromDirectory("certs", "server");
  return config;
}

absl::StatusOr<CoordinatorConfig> ParseCoordinatorConfig(
    const std::string& toml_text, const std::string& origin) {
  const ConfigSchema<CoordinatorConfig>& schema = CoordinatorConfigSchema();
  ASSIGN_OR_RETURN(ConfigValues values, schema.Read(toml_text, origin));
  CoordinatorConfig c = DefaultCoordinatorConfig();
  RETURN_IF_ERROR(schema.Apply(values, &c));
  ASSIGN_OR_RETURN(c.data_schema, ParseDataSchema(values));
  RETURN_IF_ERROR(ApplyDataSchemaToModel(values, &c));
  return c;
}

absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfigOrDefaults(
    const std::string& path) {
  if (path.empty()) return DefaultCoordinatorConfig();
  return LoadCoordinatorConfig(path);
}

absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfig(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseCoordinatorConfig(text, path);
}

absl::Status ValidateCoordinatorConfig(const CoordinatorConfig& c) {
  RETURN_IF_ERROR(CoordinatorConfigSchema().Check(c));
  RETURN_IF_ERROR(ValidateRounds(c));
  // [strategy]: its keys are its field names (server_optimizer_config.h).
  RETURN_IF_ERROR(c.engine.strategy.Validate(c.engine.server_learning_rate));
  RETURN_IF_ERROR(CheckQfflCombination(c.engine.strategy, c.engine.dp.enabled(),
                                       c.engine.robust.robust()));
  RETURN_IF_ERROR(ValidateRobustAggregationAndProx(c));
  RETURN_IF_ERROR(ValidateSecAgg(c));
  RETURN_IF_ERROR(ValidateDp(c));
  RETURN_IF_ERROR(ValidateFederatedEvaluation(c));
  return ValidateModelAndData(c);
}

}  // namespace fedlearn
