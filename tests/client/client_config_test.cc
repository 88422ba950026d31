#include "client/client_config.h"

#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

std::string ShippedReference() {
  absl::StatusOr<std::string> text = ReadFileToString(
      std::string(FEDLEARN_SOURCE_DIR) + "/deploy/client.toml");
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

class ClientConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "client_config_test.XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Parses argv with the client's flags and applies them onto `config`.
  absl::Status ApplyArgs(std::vector<std::string> args, ClientConfig* config) {
    CLI::App app;
    ClientFlags flags;
    AddClientFlags(&app, &flags);
    args.insert(args.begin(), "fedlearn-client");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
      return absl::InvalidArgumentError(e.what());
    }
    return ApplyClientFlags(flags, config);
  }

  std::string dir_;
};

TEST_F(ClientConfigTest, ShippedReferenceIsThePrintedSchema) {
  EXPECT_EQ(ShippedReference(), ClientConfigReference())
      << "regenerate: fedlearn-client --print-config > deploy/client.toml";
}

TEST_F(ClientConfigTest, ShippedReferenceParsesToTheDefaults) {
  ClientConfig parsed;
  parsed.threads = 7;  // must come back to the default
  ASSERT_TRUE(
      ParseClientConfig(ShippedReference(), "deploy/client.toml", &parsed)
          .ok());
  EXPECT_EQ(ClientConfigSchema().Values(parsed),
            ClientConfigSchema().Values(DefaultClientConfig()));
  EXPECT_TRUE(ValidateClientConfig(parsed).ok());
}

TEST_F(ClientConfigTest, ShippedReferenceNamesEveryKeyAndFlag) {
  const std::string reference = ShippedReference();
  for (const ConfigKeySpec* spec : ClientConfigSchema().Specs()) {
    EXPECT_THAT(reference, HasSubstr("\n" + spec->name() + " = ")) << spec->key;
    EXPECT_THAT(reference, HasSubstr("[" + spec->flag + "]")) << spec->key;
  }
}

TEST_F(ClientConfigTest, FileThenFlagsThenOneValidation) {
  const std::string csv = dir_ + "/train.csv";
  std::ofstream(csv) << "id,x,label\n1,0.5,a\n";
  const std::string toml = dir_ + "/client.toml";
  std::ofstream(toml) << "[coordinator]\naddress = \"fl.example.org:7443\"\n"
                      << "[identity]\ncerts = \"/etc/fedlearn/certs\"\n"
                      << "id = \"hospital-a\"\n"
                      << "[data]\nkind = \"csv\"\npath = \"" << csv << "\"\n"
                      << "delimiter = \";\"\n"
                      << "[privacy]\nrequire = \"distributed-dp\"\n"
                      << "min_noise_multiplier = 0.8\n"
                      << "[site]\nthreads = 2\nlog_level = \"debug\"\n";
  ClientConfig config = DefaultClientConfig();
  ASSERT_TRUE(LoadClientConfig(toml, &config).ok());
  ASSERT_TRUE(ApplyArgs({"--threads", "4", "--ignore-columns", "id,date",
                         "--max-failures", "3"},
                        &config)
                  .ok());
  ASSERT_TRUE(ValidateClientConfig(config).ok());
  EXPECT_EQ(config.coordinator, "fl.example.org:7443");
  EXPECT_EQ(config.client_id, "hospital-a");
  EXPECT_EQ(config.data_path, csv);
  EXPECT_EQ(config.delimiter, ";");
  EXPECT_EQ(config.require_privacy, "distributed-dp");
  EXPECT_DOUBLE_EQ(config.min_noise_multiplier, 0.8);
  EXPECT_EQ(config.threads, 4);          // the flag wins
  EXPECT_EQ(config.log_level, "debug");  // the file's, no flag given
  EXPECT_EQ(config.max_failures, 3);
  EXPECT_THAT(config.ignore_columns, ElementsAre("id", "date"));
  EXPECT_FALSE(config.insecure);
}

TEST_F(ClientConfigTest, FlagsAloneStillWorkWithoutAFile) {
  ClientConfig config = DefaultClientConfig();
  ASSERT_TRUE(ApplyArgs({"--coordinator", "127.0.0.1:9", "--insecure", "--id",
                         "site-1", "--partition", "iid", "--num-partitions",
                         "3", "--partition-index", "2"},
                        &config)
                  .ok());
  EXPECT_TRUE(ValidateClientConfig(config).ok());
  EXPECT_TRUE(config.insecure);
  EXPECT_EQ(config.partition_index, 2);
  EXPECT_EQ(config.coordinator, "127.0.0.1:9");
}

TEST_F(ClientConfigTest, UnknownKeyAndWrongTypeAreRefusedNamingTheFile) {
  ClientConfig config;
  absl::Status unknown =
      ParseClientConfig("[site]\nthread = 2\n", "site.toml", &config);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(unknown),
              HasSubstr("site.toml: unknown key 'site.thread'"));
  absl::Status type =
      ParseClientConfig("[site]\nthreads = \"4\"\n", "site.toml", &config);
  EXPECT_THAT(Message(type), HasSubstr("'site.threads' has the wrong type"));
}

TEST_F(ClientConfigTest, ValidationNamesTheKeyAndItsFlag) {
  ClientConfig config;
  config.threads = 0;
  EXPECT_THAT(Message(ValidateClientConfig(config)),
              HasSubstr("site.threads (--threads) must be >= 1"));
  config = ClientConfig();
  config.require_privacy = "some";
  EXPECT_THAT(Message(ValidateClientConfig(config)),
              HasSubstr("privacy.require (--require-privacy) must be"));
  config = ClientConfig();
  config.certs_dir = "/etc/fedlearn/certs";
  EXPECT_THAT(Message(ValidateClientConfig(config)),
              HasSubstr("identity.certs (--certs) needs identity.id (--id)"));
  config = ClientConfig();
  config.delimiter = ";;";
  EXPECT_THAT(Message(ValidateClientConfig(config)),
              HasSubstr("data.delimiter (--delimiter) must be one character"));
  config = ClientConfig();
  config.partition = "iid";
  config.partition_index = 1;
  EXPECT_THAT(Message(ValidateClientConfig(config)),
              HasSubstr("partition.index (--partition-index) 1 is not below"));
}

TEST_F(ClientConfigTest, FetchWaitIsAKeyAndAFlagAndZeroMeansPolling) {
  ClientConfig config;
  EXPECT_EQ(ClientFetchWait(config), std::chrono::seconds(50));  // long poll
  ASSERT_TRUE(ParseClientConfig("[coordinator]\nfetch_wait_s = 0\n",
                                "site.toml", &config)
                  .ok());
  EXPECT_TRUE(ValidateClientConfig(config).ok());
  EXPECT_EQ(ClientFetchWait(config), std::chrono::milliseconds(0));
  ASSERT_TRUE(ApplyArgs({"--fetch-wait-s", "20.5"}, &config).ok());
  EXPECT_EQ(ClientFetchWait(config), std::chrono::milliseconds(20'500));
  config.fetch_wait_s = 0.3;  // 299.99999999999997 ms: nearest, not floor
  EXPECT_EQ(ClientFetchWait(config), std::chrono::milliseconds(300));
  config.fetch_wait_s = 1e-4;  // positive stays a wait
  EXPECT_EQ(ClientFetchWait(config), std::chrono::milliseconds(1));
}

TEST_F(ClientConfigTest, FetchWaitOutOfRangeNamesKeyFlagAndBounds) {
  for (double bad : {-1.0, 600.5, std::nan("")}) {
    ClientConfig config;
    config.fetch_wait_s = bad;
    const absl::Status s = ValidateClientConfig(config);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(s), HasSubstr("coordinator.fetch_wait_s "
                                      "(--fetch-wait-s)"))
        << bad;
  }
  ClientConfig config;
  config.fetch_wait_s = -1;
  EXPECT_THAT(Message(ValidateClientConfig(config)),
              HasSubstr("must be in [0, 600]"));
  config.fetch_wait_s = 600;
  EXPECT_TRUE(ValidateClientConfig(config).ok());
}

TEST_F(ClientConfigTest, MissingCsvIsNotFoundBeforeDiallingOut) {
  ClientConfig config;
  config.data_kind = "csv";
  EXPECT_THAT(Message(ValidateClientConfig(config)),
              HasSubstr("needs data.path (--data-path FILE)"));
  config.data_path = dir_ + "/absent.csv";
  absl::Status missing = ValidateClientConfig(config);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing), HasSubstr("absent.csv: no such file"));
}

TEST_F(ClientConfigTest, FlagValueOfTheWrongTypeNamesTheFlag) {
  ClientConfig config;
  absl::Status s = ApplyArgs({"--threads", "many"}, &config);
  EXPECT_THAT(Message(s), HasSubstr("--threads: 'many' is not an integer"));
  EXPECT_THAT(Message(ApplyArgs({"--log-level", "loud"}, &config)),
              HasSubstr("--log-level: loud not in"));
}

}  // namespace
}  // namespace fedlearn
