// End to end, the fine-tuning example as `make finetune-demo` runs it
// (examples/finetune/run_finetune.sh), in its --quick form: PyTorch
// pre-trains the zoo LeNet-5 on a few Fashion-MNIST images of classes 0-4
// and writes it as safetensors; fedlearn-sim evaluates that file exactly as
// PyTorch did (the script's check run), then federates classes 5-9 over five
// sites for one secure round, five ways. The table must have every row,
// each row must upload what its trainable tensors need (4 bytes a value in
// Z_2^32 plus a bounded envelope), so LoRA and the last-layer rows send far
// fewer bytes than full fine-tuning. ~25 s: one PyTorch pre-training and six
// short simulations.
#include <csignal>
#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/process.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using testing_e2e::Process;
using testing_util::ScopedTempDir;
using namespace std::chrono_literals;

TEST(FinetuneExampleE2eTest, QuickRunTabulatesEveryWayWithFewerBytesThanFull) {
  ScopedTempDir dir;
  const std::string work = dir.File("finetune");
  Process demo(
      {"/bin/sh",
       std::string(FEDLEARN_SOURCE_DIR) + "/examples/finetune/run_finetune.sh",
       FEDLEARN_BINARY_DIR, work, "--quick"},
      dir.File("demo"));
  const std::optional<int> code = demo.Wait(120s);
  if (!code.has_value()) {
    demo.Signal(SIGTERM);
    demo.Wait(10s);
  }
  ASSERT_EQ(code, 0) << demo.Stdout() << demo.Stderr();
  // The C++ evaluation of the PyTorch-written file passed (else exit 1).
  EXPECT_THAT(demo.Stdout(), HasSubstr("check: fedlearn-sim evaluates"));

  std::ifstream in(work + "/results.json");
  const nlohmann::json results = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(results.is_object());
  EXPECT_EQ(results.value("rounds", 0), 1);
  EXPECT_EQ(results.value("clients", 0), 5);
  std::map<std::string, nlohmann::json> rows;
  for (const nlohmann::json& row : results["rows"]) {
    rows[row.value("row", "")] = row;
  }
  // LeNet-5's tensors: fc3 84x10+10; fc2 120x84+84; LoRA r=4 on fc1
  // (4x400 + 120x4) and fc2 (4x120 + 84x4) plus the fc3 head.
  const std::map<std::string, int> trainable = {{"scratch", 61706},
                                                {"full", 61706},
                                                {"fc3", 850},
                                                {"fc2-fc3", 11014},
                                                {"lora", 2080 + 816 + 850}};
  ASSERT_EQ(rows.size(), trainable.size()) << results.dump();
  for (const auto& [name, parameters] : trainable) {
    SCOPED_TRACE(name);
    ASSERT_EQ(rows.count(name), 1u);
    const nlohmann::json& row = rows[name];
    EXPECT_EQ(row.value("trainable_parameters", 0), parameters);
    const double bytes = row.value("push_result_bytes_per_client_round", 0.0);
    EXPECT_GE(bytes, 4.0 * parameters);
    EXPECT_LT(bytes, 4.0 * parameters + 4096);
    EXPECT_GE(row.value("all_rpc_bytes_per_client_round", 0.0), bytes);
    const double accuracy = row.value("test_accuracy", -1.0);
    EXPECT_GE(accuracy, 0.0);
    EXPECT_LE(accuracy, 1.0);
    EXPECT_GT(row.value("mean_round_seconds", 0.0), 0.0);
  }
  const double full = rows["full"]["push_result_bytes_per_client_round"];
  for (const char* name : {"fc3", "fc2-fc3", "lora"}) {
    EXPECT_LT(rows[name]["push_result_bytes_per_client_round"].get<double>(),
              full / 5)
        << name;
  }
  // The printed table has a line per row.
  for (const char* label :
       {"| from scratch", "| full fine-tuning", "| last layer only (fc3)",
        "| last two layers", "| LoRA r=4"}) {
    EXPECT_THAT(demo.Stdout(), HasSubstr(label));
  }
}

}  // namespace
}  // namespace fedlearn
