#include "server/coordinator_config.h"

#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/util/atomic_file.h"
#include "toml++/toml.h"

namespace fedlearn {
namespace {

// Every key this loader understands; anything else is a typo and an error.
const std::set<std::string>& KnownKeys() {
  static const std::set<std::string> keys = {"run.id",
                                             "run.rounds",
                                             "run.seed",
                                             "run.state_dir",
                                             "run.log_level",
                                             "server.listen",
                                             "server.insecure",
                                             "server.ca",
                                             "server.cert",
                                             "server.key",
                                             "server.max_concurrent_uploads",
                                             "server.poll_interval_ms",
                                             "rounds.min_clients",
                                             "rounds.clients_per_round",
                                             "rounds.fraction",
                                             "rounds.min_updates",
                                             "rounds.timeout_s",
                                             "rounds.max_attempts",
                                             "rounds.client_liveness_s",
                                             "rounds.server_learning_rate",
                                             "rounds.max_examples_per_update",
                                             "model.architecture",
                                             "model.torchscript",
                                             "model.input_shape",
                                             "model.num_classes",
                                             "model.hidden_units",
                                             "model.seed",
                                             "model.buffers",
                                             "rounds.session_takeover_s",
                                             "data.label_column",
                                             "data.classes",
                                             "data.numeric_features",
                                             "data.columns",
                                             "data.label_match",
                                             "data.missing_values",
                                             "data.missing_markers",
                                             "training.optimizer",
                                             "training.learning_rate",
                                             "training.momentum",
                                             "training.weight_decay",
                                             "training.local_epochs",
                                             "training.batch_size",
                                             "training.seed",
                                             "evaluation.dataset",
                                             "evaluation.path",
                                             "evaluation.label_column",
                                             "simulation.clients",
                                             "simulation.partition",
                                             "simulation.workers",
                                             "simulation.dataset",
                                             "simulation.path",
                                             "simulation.label_column",
      "secagg.enabled", "secagg.modulus_bits", "secagg.quantization_bits",
      "secagg.clip_range", "secagg.max_weight", "secagg.dropout_rate",
      "secagg.security_bits", "secagg.phase_timeout_s",
      "secagg.max_relative_error", "secagg.on_excess_error",
      "dp.mode", "dp.noise_multiplier", "dp.target_epsilon", "dp.delta",
      "dp.epsilon_budget", "dp.sampling_rate", "dp.clip_norm",
      "dp.adaptive_clipping", "dp.target_unclipped_quantile",
      "dp.clip_learning_rate", "dp.count_noise_stddev",
      "dp.dropout_tolerance", "dp.testing_seed"};
  return keys;
}

class Reader {
 public:
  Reader(const toml::table& table, std::string origin)
      : table_(table), origin_(std::move(origin)) {}

  template <typename T>
  void Get(const char* key, T* out) {
    const toml::node* node = table_.at_path(key).node();
    if (node == nullptr) return;
    if constexpr (std::is_same_v<T, bool>) {
      if (auto v = node->value<bool>()) {
        *out = *v;
        return;
      }
    } else if constexpr (std::is_integral_v<T>) {
      if (auto v = node->value<int64_t>()) {
        if (*v < 0 && std::is_unsigned_v<T>)
          return Fail(key, "must not be negative");
        // Narrowing must not silently wrap (rounds = 4294967297 is not 1).
        if (static_cast<int64_t>(static_cast<T>(*v)) != *v) {
          return Fail(key, "is out of range");
        }
        *out = static_cast<T>(*v);
        return;
      }
    } else if constexpr (std::is_floating_point_v<T>) {
      if (auto v = node->value<double>()) {
        *out = *v;
        return;
      }
    } else {
      if (auto v = node->value<std::string>()) {
        *out = *v;
        return;
      }
    }
    Fail(key, "has the wrong type");
  }

  void GetShape(const char* key, std::vector<int64_t>* out) {
    const toml::node* node = table_.at_path(key).node();
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array == nullptr) return Fail(key, "must be an array of integers");
    std::vector<int64_t> shape;
    for (const toml::node& element : *array) {
      auto v = element.value<int64_t>();
      if (!v || *v <= 0) return Fail(key, "must hold positive integers");
      shape.push_back(*v);
    }
    *out = shape;
  }

  void Fail(const char* key, std::string_view why) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat(origin_, ": '", key, "' ", std::string(why)));
    }
  }

  absl::Status status() const { return status_; }

 private:
  const toml::table& table_;
  const std::string origin_;
  absl::Status status_;
};

// A TOML array of strings; `found` says whether the key was present.
absl::StatusOr<std::vector<std::string>> GetStrings(const toml::node* node,
                                                    const std::string& key) {
  std::vector<std::string> out;
  if (node == nullptr) return out;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", key, "' must be an array of strings"));
  }
  for (const toml::node& element : *array) {
    auto v = element.value<std::string>();
    if (!v) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", key, "' must hold only strings"));
    }
    out.push_back(*v);
  }
  return out;
}

// [data]: the run's data contract. Columns are either a list of numeric
// names (numeric_features) or, for mixed types, [[data.columns]] tables
// with name, type ("numeric" | "categorical") and categories.
absl::StatusOr<std::optional<TableSchema>> ParseDataSchema(
    const toml::table& root) {
  const toml::table* data = root["data"].as_table();
  if (data == nullptr) return std::optional<TableSchema>();
  TableSchema schema;
  if (auto v = (*data)["label_column"].value<std::string>()) {
    schema.label_column = *v;
  } else {
    return absl::InvalidArgumentError(
        "'data.label_column' is required (a string) when [data] is present");
  }
  absl::StatusOr<std::vector<std::string>> classes =
      GetStrings((*data)["classes"].node(), "data.classes");
  if (!classes.ok()) return classes.status();
  if (classes->empty()) {
    return absl::InvalidArgumentError(
        "'data.classes' is required: the class vocabulary, class 0 first "
        "(it is never inferred from a site's data)");
  }
  schema.classes = *std::move(classes);
  absl::StatusOr<std::vector<std::string>> numeric =
      GetStrings((*data)["numeric_features"].node(), "data.numeric_features");
  if (!numeric.ok()) return numeric.status();
  for (const std::string& name : *numeric) {
    schema.features.push_back(
        FeatureColumn{name, FeatureColumn::Type::kNumeric, {}});
  }
  if (const toml::node* columns = (*data)["columns"].node()) {
    if (!schema.features.empty()) {
      return absl::InvalidArgumentError(
          "give either 'data.numeric_features' or [[data.columns]], not both");
    }
    const toml::array* array = columns->as_array();
    if (array == nullptr) {
      return absl::InvalidArgumentError(
          "'data.columns' must be an array of tables ([[data.columns]])");
    }
    for (const toml::node& element : *array) {
      const toml::table* column = element.as_table();
      if (column == nullptr) {
        return absl::InvalidArgumentError(
            "each [[data.columns]] entry must be a table");
      }
      for (const auto& [key, unused] : *column) {
        if (key.str() != "name" && key.str() != "type" &&
            key.str() != "categories") {
          return absl::InvalidArgumentError(absl::StrCat(
              "unknown key '", std::string(key.str()),
              "' in [[data.columns]] (name, type, categories)"));
        }
      }
      FeatureColumn f;
      if (auto v = (*column)["name"].value<std::string>()) f.name = *v;
      std::string type = "numeric";
      if (auto v = (*column)["type"].value<std::string>()) type = *v;
      absl::StatusOr<FeatureColumn::Type> parsed = ParseFeatureType(type);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "[[data.columns]] '", f.name, "': ", parsed.status().message()));
      }
      f.type = *parsed;
      absl::StatusOr<std::vector<std::string>> categories =
          GetStrings((*column)["categories"].node(), "data.columns.categories");
      if (!categories.ok()) return categories.status();
      f.categories = *std::move(categories);
      schema.features.push_back(std::move(f));
    }
  }
  if (auto v = (*data)["label_match"].value<std::string>()) {
    absl::StatusOr<LabelMatch> match = ParseLabelMatch(*v);
    if (!match.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'data.label_match': ", match.status().message()));
    }
    schema.label_match = *match;
  }
  if (auto v = (*data)["missing_values"].value<std::string>()) {
    absl::StatusOr<MissingValuePolicy> policy = ParseMissingValuePolicy(*v);
    if (!policy.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'data.missing_values': ", policy.status().message()));
    }
    schema.missing = *policy;
  }
  if (const toml::node* markers = (*data)["missing_markers"].node()) {
    absl::StatusOr<std::vector<std::string>> parsed =
        GetStrings(markers, "data.missing_markers");
    if (!parsed.ok()) return parsed.status();
    schema.missing_markers = *std::move(parsed);
  }
  if (absl::Status s = schema.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("[data]: ", s.message()));
  }
  return std::optional<TableSchema>(std::move(schema));
}

absl::Status CheckUnknownKeys(const toml::table& root,
                              const std::string& origin) {
  for (const auto& [section, node] : root) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": top-level key '", std::string(section.str()),
                       "' must be a [section]"));
    }
    for (const auto& [key, unused] : *table) {
      const std::string full =
          absl::StrCat(std::string(section.str()), ".", std::string(key.str()));
      if (KnownKeys().count(full) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(origin, ": unknown key '", full, "'"));
      }
    }
  }
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

}  // namespace

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
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": ", std::string(e.description()), " at ", where.str()));
  }
  if (absl::Status s = CheckUnknownKeys(root, origin); !s.ok()) return s;

  CoordinatorConfig c = DefaultCoordinatorConfig();
  RoundEngineConfig& e = c.engine;
  Reader r(root, origin);
  r.Get("run.id", &e.run_id);
  r.Get("run.rounds", &e.num_rounds);
  r.Get("run.seed", &e.seed);
  r.Get("run.state_dir", &c.state_dir);
  r.Get("run.log_level", &c.log_level);
  r.Get("server.listen", &c.listen);
  r.Get("server.insecure", &c.tls.insecure);
  r.Get("server.ca", &c.tls.ca_cert_path);
  r.Get("server.cert", &c.tls.cert_path);
  r.Get("server.key", &c.tls.key_path);
  r.Get("server.max_concurrent_uploads", &c.max_concurrent_uploads);
  r.Get("server.poll_interval_ms", &e.poll_interval_ms);
  r.Get("rounds.min_clients", &e.min_clients);
  r.Get("rounds.clients_per_round", &e.clients_per_round);
  r.Get("rounds.fraction", &e.fraction);
  r.Get("rounds.min_updates", &e.min_updates);
  double timeout_s = e.round_timeout.count() / 1000.0;
  r.Get("rounds.timeout_s", &timeout_s);
  e.round_timeout = Duration(static_cast<int64_t>(timeout_s * 1000));
  double liveness_s = e.client_liveness.count() / 1000.0;
  r.Get("rounds.client_liveness_s", &liveness_s);
  e.client_liveness = Duration(static_cast<int64_t>(liveness_s * 1000));
  r.Get("rounds.max_attempts", &e.max_round_attempts);
  r.Get("rounds.server_learning_rate", &e.server_learning_rate);
  r.Get("rounds.max_examples_per_update", &e.max_examples_per_update);
  r.Get("model.architecture", &c.model.architecture);
  r.Get("model.torchscript", &c.model.torchscript_path);
  r.GetShape("model.input_shape", &c.model.input_shape);
  r.Get("model.num_classes", &c.model.num_classes);
  r.Get("model.hidden_units", &c.model.hidden_units);
  r.Get("model.seed", &c.model_seed);
  std::string buffers = BufferPolicyName(c.model.buffers);
  r.Get("model.buffers", &buffers);
  double takeover_s = e.session_takeover.count() / 1000.0;
  r.Get("rounds.session_takeover_s", &takeover_s);
  e.session_takeover = Duration(static_cast<int64_t>(takeover_s * 1000));
  std::string optimizer = "sgd";
  r.Get("training.optimizer", &optimizer);
  r.Get("training.learning_rate", &e.training.learning_rate);
  r.Get("training.momentum", &e.training.momentum);
  r.Get("training.weight_decay", &e.training.weight_decay);
  r.Get("training.local_epochs", &e.training.local_epochs);
  r.Get("training.batch_size", &e.training.batch_size);
  r.Get("training.seed", &e.training.seed);
  r.Get("evaluation.dataset", &c.evaluation.kind);
  r.Get("evaluation.path", &c.evaluation.path);
  r.Get("evaluation.label_column", &c.evaluation.label_column);
  r.Get("simulation.clients", &c.simulation.clients);
  r.Get("simulation.partition", &c.simulation.partition);
  r.Get("simulation.workers", &c.simulation.workers);
  r.Get("simulation.dataset", &c.simulation.train_data.kind);
  r.Get("simulation.path", &c.simulation.train_data.path);
  r.Get("simulation.label_column", &c.simulation.train_data.label_column);
  SecAggRoundConfig& sa = e.secagg;
  r.Get("secagg.enabled", &sa.enabled);
  r.Get("secagg.modulus_bits", &sa.modulus_bits);
  r.Get("secagg.quantization_bits", &sa.quantization_bits);
  r.Get("secagg.clip_range", &sa.clip_range);
  r.Get("secagg.max_weight", &sa.max_weight);
  r.Get("secagg.dropout_rate", &sa.dropout_rate);
  r.Get("secagg.security_bits", &sa.security_bits);
  double phase_timeout_s = sa.phase_timeout.count() / 1000.0;
  r.Get("secagg.phase_timeout_s", &phase_timeout_s);
  sa.phase_timeout = Duration(static_cast<int64_t>(phase_timeout_s * 1000));
  r.Get("secagg.max_relative_error", &e.secagg_error.max_relative_error);
  std::string on_excess_error = "warn";
  r.Get("secagg.on_excess_error", &on_excess_error);
  DpConfig& dp = e.dp;
  std::string dp_mode = "off";
  r.Get("dp.mode", &dp_mode);
  r.Get("dp.noise_multiplier", &dp.noise_multiplier);
  r.Get("dp.target_epsilon", &dp.target_epsilon);
  r.Get("dp.delta", &dp.delta);
  r.Get("dp.epsilon_budget", &dp.epsilon_budget);
  r.Get("dp.sampling_rate", &dp.sampling_rate);
  r.Get("dp.clip_norm", &dp.clip_norm);
  r.Get("dp.adaptive_clipping", &dp.adaptive_clipping);
  r.Get("dp.target_unclipped_quantile", &dp.target_unclipped_quantile);
  r.Get("dp.clip_learning_rate", &dp.clip_learning_rate);
  r.Get("dp.count_noise_stddev", &dp.count_noise_stddev);
  r.Get("dp.dropout_tolerance", &dp.dropout_tolerance);
  if (root.at_path("dp.testing_seed").node() != nullptr) {
    uint64_t seed = 0;
    r.Get("dp.testing_seed", &seed);
    dp.testing_seed = seed;
  }
  if (!r.status().ok()) return r.status();
  if (absl::StatusOr<BufferPolicy> policy = ParseBufferPolicy(buffers);
      policy.ok()) {
    c.model.buffers = *policy;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": model.buffers must be \"federated\" or \"local\", got \"",
        buffers, "\""));
  }
  absl::StatusOr<std::optional<TableSchema>> schema = ParseDataSchema(root);
  if (!schema.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": ", schema.status().message()));
  }
  c.data_schema = *std::move(schema);
  if (c.data_schema.has_value()) {
    // The schema fixes the model's input width and classes; an explicit
    // [model] value that disagrees is an error, not a silent override.
    const std::vector<int64_t> width = {c.data_schema->EncodedWidth()};
    const int32_t classes =
        static_cast<int32_t>(c.data_schema->classes.size());
    if (root.at_path("model.input_shape").node() != nullptr &&
        c.model.input_shape != width) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": model.input_shape disagrees with [data], whose columns "
          "encode to ", width[0], " values per row; remove model.input_shape "
          "(it follows from [data])"));
    }
    if (root.at_path("model.num_classes").node() != nullptr &&
        c.model.num_classes != classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": model.num_classes = ", c.model.num_classes,
          " but data.classes lists ", classes,
          "; remove model.num_classes (it follows from [data])"));
    }
    c.model.input_shape = width;
    c.model.num_classes = classes;
  }
  if (dp_mode == "off") {
    dp.mode = DpConfig::Mode::kOff;
  } else if (dp_mode == "central") {
    dp.mode = DpConfig::Mode::kCentral;
  } else if (dp_mode == "distributed") {
    dp.mode = DpConfig::Mode::kDistributed;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": dp.mode must be \"off\", \"central\" or \"distributed\", got \"",
        dp_mode, "\""));
  }
  if (on_excess_error == "warn" || on_excess_error == "fail") {
    e.secagg_error.fail = on_excess_error == "fail";
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": secagg.on_excess_error must be \"warn\" or \"fail\", got \"",
        on_excess_error, "\""));
  }
  if (optimizer == "sgd") {
    e.training.optimizer = TrainingConfig::Optimizer::kSgd;
  } else if (optimizer == "adam") {
    e.training.optimizer = TrainingConfig::Optimizer::kAdam;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": training.optimizer must be \"sgd\" or \"adam\", got \"",
        optimizer, "\""));
  }
  if (absl::Status s = ValidateCoordinatorConfig(c); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", s.message()));
  }
  return c;
}

absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfig(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  return ParseCoordinatorConfig(*text, path);
}

absl::Status ValidateCoordinatorConfig(const CoordinatorConfig& c) {
  if (absl::Status s = c.engine.Validate(); !s.ok()) return s;
  const TrainingConfig& t = c.engine.training;
  if (!(t.learning_rate > 0)) {
    return absl::InvalidArgumentError(
        "training.learning_rate must be positive");
  }
  if (t.momentum < 0 || t.weight_decay < 0) {
    return absl::InvalidArgumentError(
        "training.momentum and training.weight_decay must be >= 0");
  }
  if (t.local_epochs < 1 || t.batch_size < 1) {
    return absl::InvalidArgumentError(
        "training.local_epochs and training.batch_size must be >= 1");
  }
  static const std::set<std::string> kArchitectures = {"logreg", "mlp",
                                                       "lenet5", "mlp-bn", "torchscript"};
  if (kArchitectures.count(c.model.architecture) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.architecture must be logreg, mlp, lenet5 or torchscript, got \"",
        c.model.architecture, "\""));
  }
  if (c.model.architecture == "torchscript" &&
      c.model.torchscript_path.empty()) {
    return absl::InvalidArgumentError(
        "model.torchscript (a file path) is required for architecture "
        "torchscript");
  }
  if (c.model.num_classes < 2) {
    return absl::InvalidArgumentError("model.num_classes must be >= 2");
  }
  if (c.max_concurrent_uploads < 1) {
    return absl::InvalidArgumentError(
        "server.max_concurrent_uploads must be >= 1");
  }
  if (c.simulation.clients < 1) {
    return absl::InvalidArgumentError("simulation.clients must be >= 1");
  }
  if (c.simulation.workers < 0) {
    return absl::InvalidArgumentError("simulation.workers must be >= 0");
  }
  if (c.tls.insecure && c.engine.secagg.enabled) {
    return absl::InvalidArgumentError(
        "secure aggregation needs mutual TLS: clients sign their keys with their "
        "certificates. Use --insecure only together with [secagg] enabled = false");
  }
  if (absl::Status s = ValidateDataSource(c.evaluation, "evaluation", true);
      !s.ok()) {
    return s;
  }
  if (c.evaluation.kind == "csv" && !c.data_schema.has_value()) {
    return absl::InvalidArgumentError(
        "evaluation.dataset = \"csv\" needs the run's data schema: declare "
        "[data] (label_column, classes, columns)");
  }
  return ValidateDataSource(c.simulation.train_data, "simulation", false);
}

}  // namespace fedlearn
