#include "server/coordinator_config.h"

#include <stdlib.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <string>

#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 30 numeric columns f0..f29: a [data] section whose width matches
// [model] input_shape = [30].
std::string DataSection() {
  std::string out =
      "[data]\nlabel_column = \"outcome\"\nclasses = [\"low\", \"mid\", "
      "\"high\"]\nlabel_match = \"case-insensitive\"\nmissing_values = "
      "\"drop-row\"\nmissing_markers = [\"?\"]\nnumeric_features = [";
  for (int i = 0; i < 30; ++i) {
    out += (i ? ", " : "") + std::string("\"f") + std::to_string(i) + "\"";
  }
  return out + "]\n";
}

const std::string kFullConfig = std::string(R"(# every key, none at its default
[run]
id = "hospital-study"
rounds = 7
seed = 99
state_dir = "/var/lib/fedlearn"
log_level = "debug"

[server]
listen = "127.0.0.1:9443"
insecure = true
ca = "/etc/fl/ca.pem"
cert = "/etc/fl/server.pem"
key = "/etc/fl/server.key"
max_concurrent_uploads = 6
poll_interval_ms = 750

[rounds]
min_clients = 4
clients_per_round = 5
fraction = 0.5
min_updates = 3
timeout_s = 42.5
max_attempts = 6
client_liveness_s = 90
server_learning_rate = 0.8
max_examples_per_update = 5000

[model]
architecture = "mlp"
input_shape = [30]
num_classes = 3
hidden_units = 64
seed = 12

[training]
optimizer = "adam"
learning_rate = 0.001
momentum = 0.5
weight_decay = 0.01
local_epochs = 2
batch_size = 64
seed = 5

[evaluation]
dataset = "csv"
path = "/data/test.csv"
label_column = "outcome"

[simulation]
clients = 12
partition = "iid"
workers = 3
dataset = "csv"
path = "/data/train.csv"
label_column = "outcome"

[secagg]
enabled = false
modulus_bits = 24
quantization_bits = 16
clip_range = 0.5
max_weight = 500
dropout_rate = 0.2
security_bits = 30
phase_timeout_s = 12.5
)") + DataSection();

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// What a program does: parse the file, (apply flags,) validate once.
absl::StatusOr<CoordinatorConfig> ParseAndValidate(const std::string& text,
                                                   const std::string& origin) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseCoordinatorConfig(text, origin);
  if (!parsed.ok()) return parsed;
  if (absl::Status s = ValidateCoordinatorConfig(*parsed); !s.ok()) return s;
  return parsed;
}

TEST(CoordinatorConfigTest, InsecureTransportWithSecureAggregationIsRefused) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseAndValidate("[server]\ninsecure = true\n", "insecure.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(Message(parsed.status()), HasSubstr("[secagg] enabled = false"));
}

TEST(CoordinatorConfigTest, SecureAggregationIsOnByDefault) {
  absl::StatusOr<CoordinatorConfig> parsed = ParseAndValidate("", "empty.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->engine.secagg.enabled);
}

TEST(CoordinatorConfigTest, DataSectionDeclaresTheSchemaAndFixesTheModelShape) {
  absl::StatusOr<CoordinatorConfig> parsed = ParseAndValidate(
      "[data]\nlabel_column = \"diagnosis\"\n"
      "classes = [\"malignant\", \"benign\"]\n"
      "[[data.columns]]\nname = \"age\"\n"
      "[[data.columns]]\nname = \"sex\"\ntype = \"categorical\"\n"
      "categories = [\"f\", \"m\", \"x\"]\n"
      "[model]\narchitecture = \"mlp\"\n",
      "data.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->data_schema.has_value());
  const TableSchema& schema = *parsed->data_schema;
  EXPECT_EQ(schema.label_column, "diagnosis");
  EXPECT_THAT(schema.classes, ElementsAre("malignant", "benign"));
  ASSERT_EQ(schema.features.size(), 2u);
  EXPECT_EQ(schema.features[1].type, FeatureColumn::Type::kCategorical);
  EXPECT_EQ(schema.label_match, LabelMatch::kExact);  // the safe default
  // The model's input and classes follow from the schema, never from data.
  EXPECT_THAT(parsed->model.input_shape, ElementsAre(4));  // 1 + 3 one-hot
  EXPECT_EQ(parsed->model.num_classes, 2);
}

TEST(CoordinatorConfigTest, ModelShapeThatContradictsTheDataSectionIsRefused) {
  absl::StatusOr<CoordinatorConfig> parsed = ParseAndValidate(
      "[data]\nlabel_column = \"y\"\nclasses = [\"a\", \"b\"]\n"
      "numeric_features = [\"x1\", \"x2\"]\n"
      "[model]\narchitecture = \"mlp\"\ninput_shape = [3]\n",
      "bad.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(Message(parsed.status()), HasSubstr("model.input_shape"));
  parsed = ParseAndValidate(
      "[data]\nlabel_column = \"y\"\nclasses = [\"a\", \"b\"]\n"
      "numeric_features = [\"x1\"]\n[model]\nnum_classes = 3\n",
      "bad.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(Message(parsed.status()), HasSubstr("data.classes lists 2"));
}

TEST(CoordinatorConfigTest, DataSectionWithoutClassesIsRefused) {
  absl::StatusOr<CoordinatorConfig> parsed = ParseAndValidate(
      "[data]\nlabel_column = \"y\"\nnumeric_features = [\"x\"]\n", "bad.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(Message(parsed.status()), HasSubstr("never inferred"));
}

TEST(CoordinatorConfigTest, UnknownKeyInADataColumnIsRefused) {
  absl::StatusOr<CoordinatorConfig> parsed = ParseAndValidate(
      "[data]\nlabel_column = \"y\"\nclasses = [\"a\", \"b\"]\n"
      "[[data.columns]]\nname = \"x\"\ncategory = [\"p\"]\n",
      "bad.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(Message(parsed.status()), HasSubstr("unknown key 'category'"));
}

TEST(CoordinatorConfigTest, CsvEvaluationWithoutADataSchemaIsRefused) {
  absl::StatusOr<CoordinatorConfig> parsed = ParseAndValidate(
      "[evaluation]\ndataset = \"csv\"\npath = \"t.csv\"\n", "bad.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(Message(parsed.status()),
              HasSubstr("needs the run's data schema"));
}

TEST(CoordinatorConfigTest, BufferPolicyParsesAndAnUnknownOneIsRefused) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseAndValidate("[model]\nbuffers = \"local\"\n", "b.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->model.buffers, BufferPolicy::kLocal);
  parsed = ParseAndValidate("[model]\nbuffers = \"shared\"\n", "b.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(Message(parsed.status()), HasSubstr("model.buffers"));
}

TEST(CoordinatorConfigTest, FullExampleSetsEveryField) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseAndValidate(kFullConfig, "full.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const CoordinatorConfig& c = *parsed;
  const RoundEngineConfig& e = c.engine;
  EXPECT_EQ(e.run_id, "hospital-study");
  EXPECT_EQ(e.num_rounds, 7);
  EXPECT_EQ(e.seed, 99u);
  EXPECT_EQ(c.state_dir, "/var/lib/fedlearn");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.listen, "127.0.0.1:9443");
  EXPECT_TRUE(c.tls.insecure);
  EXPECT_FALSE(e.secagg.enabled);
  EXPECT_EQ(e.secagg.modulus_bits, 24);
  EXPECT_EQ(e.secagg.quantization_bits, 16);
  EXPECT_DOUBLE_EQ(e.secagg.clip_range, 0.5);
  EXPECT_DOUBLE_EQ(e.secagg.max_weight, 500);
  EXPECT_DOUBLE_EQ(e.secagg.dropout_rate, 0.2);
  EXPECT_EQ(e.secagg.security_bits, 30);
  EXPECT_EQ(e.secagg.phase_timeout, std::chrono::milliseconds(12500));
  EXPECT_EQ(c.tls.ca_cert_path, "/etc/fl/ca.pem");
  EXPECT_EQ(c.tls.cert_path, "/etc/fl/server.pem");
  EXPECT_EQ(c.tls.key_path, "/etc/fl/server.key");
  EXPECT_EQ(c.max_concurrent_uploads, 6);
  EXPECT_EQ(e.poll_interval_ms, 750u);
  EXPECT_EQ(e.min_clients, 4);
  EXPECT_EQ(e.clients_per_round, 5);
  EXPECT_DOUBLE_EQ(e.fraction, 0.5);
  EXPECT_EQ(e.min_updates, 3);
  EXPECT_EQ(e.round_timeout, Duration(42500));
  EXPECT_EQ(e.max_round_attempts, 6);
  EXPECT_EQ(e.client_liveness, Duration(90000));
  EXPECT_DOUBLE_EQ(e.server_learning_rate, 0.8);
  EXPECT_EQ(e.max_examples_per_update, 5000u);
  EXPECT_EQ(c.model.architecture, "mlp");
  EXPECT_THAT(c.model.input_shape, ElementsAre(30));
  EXPECT_EQ(c.model.num_classes, 3);
  EXPECT_EQ(c.model.hidden_units, 64);
  EXPECT_EQ(c.model_seed, 12u);
  EXPECT_EQ(e.training.optimizer, TrainingConfig::Optimizer::kAdam);
  EXPECT_DOUBLE_EQ(e.training.learning_rate, 0.001);
  EXPECT_DOUBLE_EQ(e.training.momentum, 0.5);
  EXPECT_DOUBLE_EQ(e.training.weight_decay, 0.01);
  EXPECT_EQ(e.training.local_epochs, 2);
  EXPECT_EQ(e.training.batch_size, 64);
  EXPECT_EQ(e.training.seed, 5u);
  EXPECT_EQ(c.evaluation.kind, "csv");
  EXPECT_EQ(c.evaluation.path, "/data/test.csv");
  EXPECT_EQ(c.evaluation.label_column, "outcome");
  EXPECT_EQ(c.simulation.clients, 12);
  EXPECT_EQ(c.simulation.partition, "iid");
  EXPECT_EQ(c.simulation.workers, 3);
  EXPECT_EQ(c.simulation.train_data.kind, "csv");
  EXPECT_EQ(c.simulation.train_data.path, "/data/train.csv");
  EXPECT_EQ(c.simulation.train_data.label_column, "outcome");
  ASSERT_TRUE(c.data_schema.has_value());
  EXPECT_EQ(c.data_schema->label_column, "outcome");
  EXPECT_THAT(c.data_schema->classes, ElementsAre("low", "mid", "high"));
  EXPECT_EQ(c.data_schema->features.size(), 30u);
  EXPECT_EQ(c.data_schema->label_match, LabelMatch::kCaseInsensitive);
  EXPECT_EQ(c.data_schema->missing, MissingValuePolicy::kDropRow);
  EXPECT_THAT(c.data_schema->missing_markers, ElementsAre("?"));
}

TEST(CoordinatorConfigTest, EmptyFileGivesTheValidDefaults) {
  absl::StatusOr<CoordinatorConfig> parsed = ParseAndValidate("", "empty.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const CoordinatorConfig defaults = DefaultCoordinatorConfig();
  EXPECT_TRUE(ValidateCoordinatorConfig(defaults).ok());
  EXPECT_EQ(parsed->engine.run_id, defaults.engine.run_id);
  EXPECT_EQ(parsed->engine.num_rounds, defaults.engine.num_rounds);
  EXPECT_EQ(parsed->engine.round_timeout, defaults.engine.round_timeout);
  EXPECT_EQ(parsed->engine.client_liveness, defaults.engine.client_liveness);
  EXPECT_EQ(parsed->engine.training.optimizer, TrainingConfig::Optimizer::kSgd);
  EXPECT_EQ(parsed->model.architecture, defaults.model.architecture);
  EXPECT_EQ(parsed->listen, defaults.listen);
}

TEST(CoordinatorConfigTest, UnknownKeyIsAnErrorNamingIt) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseAndValidate("[rounds]\nmin_client = 3\n", "typo.toml");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(parsed.status()), HasSubstr("'rounds.min_client'"));
  EXPECT_THAT(Message(parsed.status()), HasSubstr("typo.toml"));
}

TEST(CoordinatorConfigTest, UnknownSectionAndTopLevelKeyAreErrors) {
  absl::StatusOr<CoordinatorConfig> section =
      ParseAndValidate("[secure_agg]\nthreshold = 3\n", "x.toml");
  EXPECT_THAT(Message(section.status()), HasSubstr("secure_agg.threshold"));
  absl::StatusOr<CoordinatorConfig> top =
      ParseAndValidate("rounds = 3\n", "x.toml");
  EXPECT_FALSE(top.ok());
  EXPECT_THAT(Message(top.status()), HasSubstr("'rounds'"));
}

TEST(CoordinatorConfigTest, WrongTypeIsAnErrorNamingTheKey) {
  struct Case {
    const char* toml;
    const char* key;
  };
  for (const Case& c :
       {Case{"[rounds]\nmin_clients = \"three\"\n", "rounds.min_clients"},
        Case{"[run]\nrounds = 2.5\n", "run.rounds"},
        Case{"[run]\nid = 5\n", "run.id"},
        Case{"[server]\ninsecure = \"yes\"\n", "server.insecure"},
        Case{"[training]\nlearning_rate = \"fast\"\n",
             "training.learning_rate"},
        Case{"[model]\ninput_shape = 784\n", "model.input_shape"},
        Case{"[model]\ninput_shape = [1, 0, 28]\n", "model.input_shape"},
        Case{"[run]\nseed = -1\n", "run.seed"}}) {
    absl::StatusOr<CoordinatorConfig> parsed =
        ParseAndValidate(c.toml, "t.toml");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << c.toml;
    EXPECT_THAT(Message(parsed.status()), HasSubstr(c.key)) << c.toml;
  }
}

TEST(CoordinatorConfigTest,
     IntegerThatDoesNotFitTheFieldIsAnErrorNamingTheKey) {
  // 2^32 + 1 would silently become 1 round if narrowed to int.
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseAndValidate("[run]\nrounds = 4294967297\n", "t.toml");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(parsed.status()), HasSubstr("run.rounds"));
  absl::StatusOr<CoordinatorConfig> poll =
      ParseAndValidate("[server]\npoll_interval_ms = 4294967296\n", "t.toml");
  EXPECT_EQ(poll.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(poll.status()), HasSubstr("server.poll_interval_ms"));
}

TEST(CoordinatorConfigTest, BadOptimizerIsAnError) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseAndValidate("[training]\noptimizer = \"rmsprop\"\n", "t.toml");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(parsed.status()), HasSubstr("training.optimizer"));
  EXPECT_THAT(Message(parsed.status()), HasSubstr("rmsprop"));
}

TEST(CoordinatorConfigTest, TorchscriptWithoutPathIsAnError) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseAndValidate("[model]\narchitecture = \"torchscript\"\n", "t.toml");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(parsed.status()), HasSubstr("model.torchscript"));
  EXPECT_TRUE(
      ParseAndValidate(
          "[model]\narchitecture = \"torchscript\"\ntorchscript = \"m.pt\"\n",
          "t.toml")
          .ok());
}

TEST(CoordinatorConfigTest, UnknownArchitectureIsAnError) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseAndValidate("[model]\narchitecture = \"resnet\"\n", "t.toml");
  EXPECT_THAT(Message(parsed.status()), HasSubstr("model.architecture"));
}

TEST(CoordinatorConfigTest, CsvWithoutPathIsAnError) {
  absl::StatusOr<CoordinatorConfig> sim =
      ParseAndValidate("[simulation]\ndataset = \"csv\"\n", "t.toml");
  EXPECT_EQ(sim.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(sim.status()), HasSubstr("simulation.path"));
  absl::StatusOr<CoordinatorConfig> eval =
      ParseAndValidate("[evaluation]\ndataset = \"csv\"\n", "t.toml");
  EXPECT_EQ(eval.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(eval.status()), HasSubstr("evaluation.path"));
}

TEST(CoordinatorConfigTest, EvaluationMayBeDisabledButSimulationMayNot) {
  EXPECT_TRUE(
      ParseAndValidate("[evaluation]\ndataset = \"\"\n", "t.toml").ok());
  absl::StatusOr<CoordinatorConfig> sim =
      ParseAndValidate("[simulation]\ndataset = \"\"\n", "t.toml");
  EXPECT_THAT(Message(sim.status()), HasSubstr("simulation.dataset"));
}

TEST(CoordinatorConfigTest, EngineValidationErrorsAreReported) {
  absl::StatusOr<CoordinatorConfig> parsed = ParseAndValidate(
      "[rounds]\nclients_per_round = 3\nmin_updates = 5\n", "t.toml");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(parsed.status()),
              HasSubstr("rounds.min_updates (5) exceeds "
                        "rounds.clients_per_round (3)"));

  EXPECT_FALSE(ParseAndValidate("[rounds]\ntimeout_s = 0\n", "t.toml").ok());
  EXPECT_FALSE(
      ParseAndValidate("[training]\nlearning_rate = 0.0\n", "t.toml").ok());
  EXPECT_FALSE(ParseAndValidate("[training]\nbatch_size = 0\n", "t.toml").ok());
  EXPECT_FALSE(ParseAndValidate("[model]\nnum_classes = 1\n", "t.toml").ok());
  EXPECT_FALSE(
      ParseAndValidate("[server]\nmax_concurrent_uploads = 0\n", "t.toml")
          .ok());
}

TEST(CoordinatorConfigTest, SyntaxErrorGivesTheLine) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseAndValidate("[run]\nid = \"x\"\nrounds = = 3\n", "broken.toml");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(parsed.status()), HasSubstr("broken.toml"));
  EXPECT_THAT(Message(parsed.status()), HasSubstr("line 3"));
}

TEST(CoordinatorConfigTest, LoadReadsTheFileAndMissingFileIsNotFound) {
  std::string dir_pattern = (std::filesystem::temp_directory_path() /
                             "coordinator_config_test.XXXXXX")
                                .string();
  const std::string dir = ::mkdtemp(dir_pattern.data());
  const std::string path = dir + "/coordinator.toml";
  ASSERT_TRUE(WriteFileAtomically(path, kFullConfig).ok());
  absl::StatusOr<CoordinatorConfig> loaded = LoadCoordinatorConfig(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->engine.run_id, "hospital-study");

  absl::StatusOr<CoordinatorConfig> missing =
      LoadCoordinatorConfig(dir + "/nope.toml");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()), HasSubstr("nope.toml"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fedlearn

namespace fedlearn {
namespace {

TEST(CoordinatorConfigTest, DpSectionSetsEveryField) {
  absl::StatusOr<CoordinatorConfig> c = ParseAndValidate(R"(
[rounds]
min_clients = 5
[dp]
mode = "distributed"
noise_multiplier = 1.25
delta = 1e-6
epsilon_budget = 4.5
sampling_rate = 0.02
clip_norm = 0.7
adaptive_clipping = true
target_unclipped_quantile = 0.6
clip_learning_rate = 0.3
count_noise_stddev = 3.5
dropout_tolerance = 0.3
testing_seed = 42
)",
                                                         "dp.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  const DpConfig& dp = c->engine.dp;
  EXPECT_EQ(dp.mode, DpConfig::Mode::kDistributed);
  EXPECT_DOUBLE_EQ(dp.noise_multiplier, 1.25);
  EXPECT_DOUBLE_EQ(dp.delta, 1e-6);
  EXPECT_DOUBLE_EQ(dp.epsilon_budget, 4.5);
  EXPECT_DOUBLE_EQ(dp.sampling_rate, 0.02);
  EXPECT_DOUBLE_EQ(dp.clip_norm, 0.7);
  EXPECT_TRUE(dp.adaptive_clipping);
  EXPECT_DOUBLE_EQ(dp.target_unclipped_quantile, 0.6);
  EXPECT_DOUBLE_EQ(dp.clip_learning_rate, 0.3);
  EXPECT_DOUBLE_EQ(dp.count_noise_stddev, 3.5);
  EXPECT_DOUBLE_EQ(dp.dropout_tolerance, 0.3);
  ASSERT_TRUE(dp.testing_seed.has_value());
  EXPECT_EQ(*dp.testing_seed, 42u);
}

TEST(CoordinatorConfigTest, DpIsOffByDefaultAndUsesTheOsGenerator) {
  absl::StatusOr<CoordinatorConfig> c = ParseAndValidate("", "empty.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->engine.dp.mode, DpConfig::Mode::kOff);
  EXPECT_FALSE(c->engine.dp.testing_seed.has_value());
}

TEST(CoordinatorConfigTest, BadDpSettingsAreErrorsNamingTheKey) {
  struct Case {
    const char* toml;
    const char* message;
  };
  const Case cases[] = {
      {"[dp]\nmode = \"local\"", "dp.mode must be"},
      {"[dp]\nmode = \"central\"", "dp.noise_multiplier"},
      {"[dp]\nmode = \"central\"\nnoise_multiplier = 1\nsampling_rate = 0",
       "dp.sampling_rate"},
      {"[secagg]\nenabled = false\n[dp]\nmode = \"distributed\"\n"
       "noise_multiplier = 1",
       "needs secure aggregation"},
      {"[dp]\nmode = \"central\"\nnoise_multiplier = \"big\"",
       "'dp.noise_multiplier' has the wrong type"},
      {"[dp]\nmode = \"central\"\nnoise_multiplier = 1\nepsilon = 3",
       "unknown key 'dp.epsilon'"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CoordinatorConfig> parsed =
        ParseAndValidate(c.toml, "x.toml");
    ASSERT_FALSE(parsed.ok()) << c.toml;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.message))
        << c.toml;
  }
}

// The shipped reference and demo configurations must stay loadable: the
// reference documents every key, so a renamed key breaks this test.
TEST(CoordinatorConfigTest, SecAggErrorBoundDefaultsToWarnAtOnePercent) {
  absl::StatusOr<CoordinatorConfig> defaults = ParseAndValidate("", "t.toml");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_DOUBLE_EQ(defaults->engine.secagg_error.max_relative_error, 0.01);
  EXPECT_FALSE(defaults->engine.secagg_error.fail);

  absl::StatusOr<CoordinatorConfig> set = ParseAndValidate(
      "[secagg]\nmax_relative_error = 0.002\non_excess_error = \"fail\"\n",
      "t.toml");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_DOUBLE_EQ(set->engine.secagg_error.max_relative_error, 0.002);
  EXPECT_TRUE(set->engine.secagg_error.fail);

  absl::StatusOr<CoordinatorConfig> bad_action =
      ParseAndValidate("[secagg]\non_excess_error = \"ignore\"\n", "t.toml");
  EXPECT_EQ(bad_action.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(bad_action.status()),
              HasSubstr("secagg.on_excess_error"));
  absl::StatusOr<CoordinatorConfig> negative =
      ParseAndValidate("[secagg]\nmax_relative_error = -0.1\n", "t.toml");
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(negative.status()),
              HasSubstr("secagg.max_relative_error"));
}

TEST(ShippedConfigTest, ReferenceAndDemoConfigurationsLoad) {
  for (const char* name :
       {"deploy/coordinator.toml", "deploy/demo.toml", "deploy/dp-demo.toml",
        "examples/hospital/hospital.toml"}) {
    absl::StatusOr<CoordinatorConfig> config =
        LoadCoordinatorConfig(std::string(FEDLEARN_SOURCE_DIR) + "/" + name);
    ASSERT_TRUE(config.ok()) << name << ": " << config.status();
    EXPECT_TRUE(ValidateCoordinatorConfig(*config).ok())
        << name << ": " << ValidateCoordinatorConfig(*config);
  }
}

std::string ShippedReference() {
  absl::StatusOr<std::string> text = ReadFileToString(
      std::string(FEDLEARN_SOURCE_DIR) + "/deploy/coordinator.toml");
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

TEST(ShippedConfigTest, ReferenceIsThePrintedSchema) {
  EXPECT_EQ(ShippedReference(), CoordinatorConfigReference())
      << "regenerate: fedlearn-coordinator --print-config > "
         "deploy/coordinator.toml";
}

TEST(ShippedConfigTest, ReferenceParsesToTheDefaults) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseCoordinatorConfig(ShippedReference(), "deploy/coordinator.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(CoordinatorConfigSchema().Values(*parsed),
            CoordinatorConfigSchema().Values(DefaultCoordinatorConfig()));
  EXPECT_FALSE(parsed->data_schema.has_value());
  EXPECT_TRUE(ValidateCoordinatorConfig(*parsed).ok());
}

// Every key the schema accepts is in the reference, set or commented out
// (the [data] keys, which have no defaults, as a commented example).
TEST(ShippedConfigTest, ReferenceNamesEveryKeyOfTheSchema) {
  std::set<std::string> named;
  std::string section;
  std::istringstream lines(ShippedReference());
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# ", 0) == 0) line = line.substr(2);
    if (line.rfind("[[", 0) == 0) {
      named.insert(line.substr(2, line.find("]]") - 2));
    } else if (line.rfind("[", 0) == 0) {
      section = line.substr(1, line.find(']') - 1);
    } else if (size_t eq = line.find(" = ");
               eq != std::string::npos && line.find_first_of(" #") == eq) {
      named.insert(section + "." + line.substr(0, eq));
    }
  }
  for (const ConfigKeySpec* spec : CoordinatorConfigSchema().Specs()) {
    EXPECT_EQ(named.count(spec->key), 1u) << spec->key;
  }
}

TEST(CoordinatorConfigTest, ParsingDoesNotValidateSoFlagsCanStillFixTheFile) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseCoordinatorConfig("[rounds]\nmin_updates = 0\n", "f.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(Message(ValidateCoordinatorConfig(*parsed)),
              HasSubstr("rounds.min_updates must be >= 1, got 0"));
  parsed->engine.min_updates = 2;  // e.g. --min-updates 2
  EXPECT_TRUE(ValidateCoordinatorConfig(*parsed).ok());
}

TEST(CoordinatorConfigTest, EngineRulesAreReportedWithTheirTomlKeys) {
  struct Case {
    const char* toml;
    const char* message;
  };
  const Case cases[] = {
      {"[rounds]\nmin_clients = 2\nclients_per_round = 2\nmin_updates = 2\n",
       "raise rounds.min_clients and rounds.clients_per_round"},
      {"[rounds]\nclients_per_round = 0\nfraction = 0\n", "rounds.fraction"},
      {"[rounds]\ntimeout_s = 0.0001\n", "rounds.timeout_s must be > 0"},
      {"[run]\nrounds = 0\n", "run.rounds must be >= 1"},
      {"[run]\nid = \"\"\n", "run.id must not be empty"},
      {"[secagg]\nphase_timeout_s = 0\n", "secagg.phase_timeout_s"},
      {"[secagg]\nmodulus_bits = 40\n", "[secagg]"},
      {"[dp]\nmode = \"central\"\nnoise_multiplier = 1\ndelta = 1\n",
       "dp.delta must be in (0, 1)"},
      {"[dp]\nmode = \"central\"\nnoise_multiplier = 1\n"
       "target_epsilon = 2\n",
       "dp.noise_multiplier or dp.target_epsilon, not both"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CoordinatorConfig> parsed = ParseAndValidate(c.toml, "x");
    ASSERT_FALSE(parsed.ok()) << c.toml;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(parsed.status()), HasSubstr(c.message)) << c.toml;
  }
}

TEST(CoordinatorConfigTest, PretrainedWeightsAndFreezingKeys) {
  absl::StatusOr<CoordinatorConfig> ok = ParseAndValidate(
      "[model]\ninitial_weights = \"base.safetensors\"\n"
      "trainable = [\"fc3.*\"]\n",
      "x");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->model.initial_weights, "base.safetensors");
  EXPECT_EQ(ok->model.trainable, std::vector<std::string>{"fc3.*"});
  struct Case {
    const char* toml;
    const char* message;
  };
  const Case cases[] = {
      {"[model]\ninitial_weights = \"b\"\ntrainable = [\"fc3.*\"]\n"
       "frozen = [\"conv1.*\"]\n",
       "set one of them, not both"},
      {"[model]\ninitial_weights = \"b\"\nfrozen = [\"\"]\n", "empty pattern"},
      {"[model]\nfrozen = [\"conv1.*\"]\n", "need model.initial_weights"},
      {"[model]\ninitial_weights = \"torchscript\"\n",
       "needs architecture torchscript"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CoordinatorConfig> parsed = ParseAndValidate(c.toml, "x");
    ASSERT_FALSE(parsed.ok()) << c.toml;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(parsed.status()), HasSubstr(c.message)) << c.toml;
  }
}

}  // namespace
}  // namespace fedlearn
