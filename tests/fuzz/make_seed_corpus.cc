// Writes seed corpora of real messages for the fuzz targets in this
// directory: `fuzz_seed_corpus <dir>` creates <dir>/<target>/seed-* with a
// real model file, run contract and task header, masked and float payloads,
// a small IDX dataset, certificates and a CRL from a real CA, the config
// references, and RPC sequences of honest plaintext and secure rounds in the
// operation formats of coordinator_ops.h and the secagg fuzzers, honest
// federated-evaluation reports and their secure sum. Existing
// files are overwritten; nothing else in <dir> is touched.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "client/client_config.h"
#include "common/evaluation/eval_vector_codec.h"
#include "common/evaluation/site_eval_report.h"
#include "common/flat/flat_vector.h"
#include "common/secagg/encoding_proto.h"
#include "common/tls/cert_authority.h"
#include "common/wire/masked_value_codec.h"
#include "common/wire/model_file.h"
#include "common/wire/proto_conversion.h"
#include "common/wire/run_contract.h"
#include "server/coordinator_config.h"
#include "tests/fuzz/coordinator_ops.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/secagg_transcript.h"

namespace fedlearn::fuzz {
namespace {

std::string out_dir;

void Write(const std::string& target, const std::string& name,
           const std::string& bytes) {
  const std::string dir = out_dir + "/" + target;
  std::filesystem::create_directories(dir);
  std::FILE* f = std::fopen((dir + "/seed-" + name).c_str(), "wb");
  FuzzCheck(f != nullptr, "cannot write a seed");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

FlatModel SmallModel(size_t n) {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back(
      {"w", {static_cast<int64_t>(n)}, DType::kFloat32});
  model.values = FlatVector(n);
  for (size_t i = 0; i < n; ++i) model.values[i] = 0.25f * i - 1;
  return model;
}

void WireSeeds() {
  const FlatModel model = SmallModel(16);
  std::string floats(1, '\0');
  AppendFloat32LE(model.values.span(), &floats);
  Write("float32_le_fuzzer", "model", floats);
  const std::vector<uint32_t> values = {0, 1, 65535, 4242, 7};
  for (int width : {2, 4}) {
    std::string bytes(1, static_cast<char>(width == 2 ? 0 : 1));
    FuzzCheck(AppendMaskedValues(values, width, &bytes).ok(), "encode failed");
    Write("masked_values_fuzzer", "width" + std::to_string(width), bytes);
  }
  const std::string path = out_dir + "/model-file.tmp";
  v1::RoundRef ref;
  ref.set_run_id("seed-run");
  ref.set_round(3);
  ref.set_model_version(3);
  FuzzCheck(WriteModelFile(path, ref, model).ok(), "cannot write a model");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  std::string file;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), f)) > 0;) {
    file.append(buf, n);
  }
  std::fclose(f);
  std::filesystem::remove(path);
  Write("model_file_fuzzer", "model", file);
}

void ContractSeeds() {
  TableSchema schema;
  schema.label_column = "diagnosis";
  schema.classes = {"benign", "malignant"};
  schema.features.push_back({"age", FeatureColumn::Type::kNumeric, {}});
  schema.features.push_back(
      {"site", FeatureColumn::Type::kCategorical, {"left", "right"}});
  ModelSource source;
  source.architecture = "mlp";
  source.input_shape = {3};
  source.num_classes = 2;
  source.hidden_units = 8;
  v1::RunContract contract;
  contract.set_run_id("seed-run");
  *contract.mutable_model() = ToModelDefinition(source, SmallModel(16).spec);
  *contract.mutable_data() = ToProto(schema);
  Write("wire_proto_fuzzer", "contract",
        std::string(1, '\0') + contract.SerializeAsString());
  v1::TaskHeader header;
  header.mutable_ref()->set_run_id("seed-run");
  header.mutable_ref()->set_round(1);
  *header.mutable_model_spec() = ToProto(SmallModel(16).spec);
  *header.mutable_training() = ToProto(TrainingConfig());
  header.set_num_values(16);
  *header.mutable_encoding() = EncodingParametersToProto(EncodingParameters());
  header.mutable_dp()->set_mode(v1::DpTaskConfig::CENTRAL);
  header.mutable_dp()->set_clip_norm(1.0);
  header.mutable_dp()->set_modulus_bits(32);
  Write("wire_proto_fuzzer", "task",
        std::string(1, '\1') + header.SerializeAsString());
}

std::string Idx(uint32_t magic, const std::vector<uint32_t>& dims,
                const std::string& payload) {
  std::string out;
  auto be = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s));
  };
  be(magic);
  for (uint32_t d : dims) be(d);
  return out + payload;
}

void DataSeeds() {
  const std::string images = Idx(0x803, {2, 4, 4}, std::string(32, '\x80'));
  const std::string labels = Idx(0x801, {2}, std::string("\x03\x07", 2));
  std::string seed(2, '\0');
  seed[0] = static_cast<char>(images.size() >> 8);
  seed[1] = static_cast<char>(images.size() & 0xff);
  Write("idx_reader_fuzzer", "two-images", seed + images + labels);
}

void CertificateSeeds() {
  absl::StatusOr<PemKeyPair> ca = CreateCertificateAuthority("seed-ca", 30);
  FuzzCheck(ca.ok(), "cannot create a CA");
  absl::StatusOr<PemKeyPair> site = IssueClientCertificate(*ca, "site-a", 30);
  absl::StatusOr<PemKeyPair> server = IssueServerCertificate(
      *ca, "coordinator", {"localhost"}, {"127.0.0.1"}, 30);
  FuzzCheck(site.ok() && server.ok(), "cannot issue certificates");
  Write("certificate_fuzzer", "ca", std::string(1, '\0') + ca->cert_pem);
  Write("certificate_fuzzer", "chain",
        std::string(1, '\1') + site->cert_pem + ca->cert_pem);
  Write("certificate_fuzzer", "site", std::string(1, '\2') + site->cert_pem);
  Write("certificate_fuzzer", "server",
        std::string(1, '\2') + server->cert_pem);
  absl::StatusOr<std::string> crl =
      CreateRevocationList(*ca, {{"1A2B", 1700000000, "keyCompromise"}}, 7, 5);
  FuzzCheck(crl.ok(), "cannot create a CRL");
  Write("certificate_fuzzer", "crl", std::string(1, '\3') + *crl);
}

void ConfigSeeds() {
  Write("coordinator_config_fuzzer", "reference", CoordinatorConfigReference());
  Write("client_config_fuzzer", "reference", ClientConfigReference());
}

// Little-endian integers in eval_report_fuzzer's input format.
void AppendLE(uint64_t v, int bytes, std::string* out) {
  for (int b = 0; b < bytes; ++b) out->push_back(static_cast<char>(v >> 8 * b));
}

// Honest reports of three sites (one without examples) of a binary task
// with two groups, as plain reports and as their secure sum.
void EvalSeeds() {
  const double max_loss = 5, threshold = 0.6;
  std::string layout;
  AppendLE(2, 1, &layout);  // num_classes
  for (int bins : {4, 5, 3}) AppendLE(bins, 2, &layout);
  AppendLE(2, 1, &layout);  // groups
  uint64_t bits;
  std::memcpy(&bits, &max_loss, 8);
  AppendLE(bits, 8, &layout);
  std::memcpy(&bits, &threshold, 8);
  AppendLE(bits, 8, &layout);
  v1::RunContract contract;
  contract.mutable_model()->set_num_classes(2);
  v1::EvaluationSpec& e = *contract.mutable_evaluation();
  e.set_score_bins(4), e.set_accuracy_bins(5), e.set_loss_bins(3);
  e.add_groups("g0"), e.add_groups("g1");
  e.set_max_loss(max_loss), e.set_accuracy_threshold(threshold);
  absl::StatusOr<EvalLayout> l = EvalLayout::FromContract(contract);
  FuzzCheck(l.ok(), "the seed layout is invalid");
  std::vector<SiteEvalReport> sites;
  for (int site = 0; site < 3; ++site) {
    SiteEvalBuilder builder(*l);
    for (int i = 0; i < 7 * site; ++i) {
      FuzzCheck(
          builder.Add(i % 2, 0, 0.13 * i + 0.05 * site, 0.3 * i, i % 3 - 1)
              .ok(),
          "cannot build a seed report");
    }
    sites.push_back(builder.Finish());
  }
  const uint64_t max_examples = 100;
  std::string plain = std::string(1, '\0') + layout;
  AppendLE(max_examples, 8, &plain);
  AppendLE(sites.size(), 1, &plain);
  for (const SiteEvalReport& r : sites) {
    const std::vector<uint64_t> values = r.ToVector(*l);
    AppendLE(values.size(), 2, &plain);
    for (uint64_t v : values) AppendLE(v, 8, &plain);
  }
  Write("eval_report_fuzzer", "plain-reports", plain);
  const int modulus_bits = 32, max_clients = 3;
  absl::StatusOr<EvalVectorCodec> codec =
      EvalVectorCodec::Create(*l, modulus_bits, max_clients, max_examples);
  FuzzCheck(codec.ok(), "cannot create the seed codec");
  std::vector<uint32_t> sum(codec->length(), 0);
  for (const SiteEvalReport& r : sites) {
    absl::StatusOr<std::vector<uint32_t>> encoded = codec->Encode(r);
    FuzzCheck(encoded.ok(), "cannot encode a seed report");
    for (size_t k = 0; k < sum.size(); ++k) sum[k] += (*encoded)[k];
  }
  std::string secure = std::string(1, '\1') + layout;
  AppendLE(max_examples, 8, &secure);
  AppendLE(modulus_bits, 1, &secure);
  AppendLE(max_clients, 2, &secure);
  AppendLE(sum.size(), 2, &secure);
  for (uint32_t v : sum) AppendLE(v, 4, &secure);
  Write("eval_report_fuzzer", "secure-sum", secure);
}

// A plaintext or secure round: three sites register, fetch and answer.
void CoordinatorSeeds(const SecAggTranscript& t) {
  for (bool secure : {false, true}) {
    std::string seq(1, secure ? '\1' : '\0');
    for (int c = 0; c < 3; ++c) {
      v1::RegisterRequest request;
      request.set_client_version("0.1.0");
      request.set_num_examples(100 + c);
      AppendOp(OpKind::kRegister, c, true, request.SerializeAsString(), &seq);
    }
    AppendOp(OpKind::kTick, 0, false, "", &seq);
    for (int c = 0; c < 3; ++c) {
      AppendOp(OpKind::kFetchTask, c, true, "", &seq);
    }
    if (secure) {
      for (int c = 0; c < 3; ++c) {
        v1::SecAggRequest request;
        *request.mutable_message() = t.client_messages[c][0];
        AppendOp(OpKind::kSecAggExchange, c, true, request.SerializeAsString(),
                 &seq);
      }
    }
    // One raw stream (real header + payload), then honest updates.
    v1::ResultChunk head;
    head.mutable_header()->set_num_examples(100);
    head.mutable_header()->set_num_values(16);
    v1::ResultChunk data;
    std::string floats;
    AppendFloat32LE(SmallModel(16).values.span(), &floats);
    data.set_update_data(floats);
    std::string frames;
    AppendFrame(head.SerializeAsString(), &frames);
    AppendFrame(data.SerializeAsString(), &frames);
    AppendOp(OpKind::kPushResult, 0, true, frames, &seq);
    for (int c = 1; c < 3; ++c) {
      AppendOp(OpKind::kHonestUpdate, c, false, floats, &seq);
    }
    std::string second(4, '\0');
    second[1] = 0x10;  // 4096 ms
    AppendOp(OpKind::kAdvanceClock, 0, false, second, &seq);
    AppendOp(OpKind::kTick, 0, false, "", &seq);
    AppendOp(OpKind::kHeartbeat, 1, true, "", &seq);
    AppendOp(OpKind::kLeave, 2, true, "", &seq);
    Write("coordinator_service_fuzzer", secure ? "secure-round" : "plain-round",
          seq);
  }
}

// The honest round in the secagg fuzzers' operation formats.
void SecAggSeeds() {
  std::string server;
  auto deliver = [&](int k) {
    for (int c = 0; c < kSecAggClients; ++c) {
      server += static_cast<char>(c << 5 | 0);
      server += static_cast<char>(k);
    }
  };
  auto advance = [&] { server += '\5'; };
  deliver(0), advance(), deliver(1), advance();
  for (int c = 0; c < kSecAggClients; ++c)
    server += static_cast<char>(c << 5 | 3);
  advance(), deliver(2), advance(), deliver(3), advance();
  server += '\6';
  Write("secagg_server_fuzzer", "honest-round", server);
  std::string client;
  const SecAggTranscript& t = HonestSecAggTranscript();
  for (size_t k = 0; k < t.server_messages[0].size(); ++k) {
    client += '\0';
    client += static_cast<char>(k);
  }
  Write("secagg_client_fuzzer", "honest-round", client);
}

}  // namespace
}  // namespace fedlearn::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
    return 2;
  }
  using namespace fedlearn::fuzz;
  QuietLogs();
  out_dir = argv[1];
  WireSeeds();
  ContractSeeds();
  DataSeeds();
  CertificateSeeds();
  ConfigSeeds();
  CoordinatorSeeds(HonestSecAggTranscript());
  SecAggSeeds();
  EvalSeeds();
  return 0;
}
