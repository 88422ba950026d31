// The client daemon's configuration: a TOML file (deploy/client.toml is the
// printed reference, `fedlearn-client --print-config`) whose every key is
// declared once in ClientConfigSchema() with its type, default, doc, checks
// and the command-line flag that overrides it.
//
//   ClientConfig c = DefaultClientConfig();
//   ParseClientConfig(text, origin, &c)     // file on top of the defaults
//   ClientFlags flags; AddClientFlags(&app, &flags);   // CLI11, then parse
//   ApplyClientFlags(flags, &c)             // flags given override the file
//   ValidateClientConfig(c)                 // once, naming key and flag
//
// Parsing refuses unknown keys and wrong types (naming file and key); it does
// not validate. ValidateClientConfig checks every key's range and the rules
// between keys, and that a CSV data file exists (it stats the file, nothing
// else). No LibTorch, no gRPC: the program maps the result onto the
// transport, session and preparer options.
// Thread-safety: thread-compatible values; the schema is immutable.
#ifndef FEDLEARN_CLIENT_CLIENT_CONFIG_H_
#define FEDLEARN_CLIENT_CLIENT_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/config/config_schema.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace fedlearn {

struct ClientConfig {
  // [coordinator]
  std::string coordinator = "localhost:7443";  // HOST[:PORT]
  std::string server_name;                     // "" = the dialled host
  bool insecure = false;  // plaintext and a claimed id: testing only
  // Long poll: how long the coordinator may hold an idle task fetch (it caps
  // it at its limits.max_fetch_wait_s); 0 = poll every retry_after_ms.
  double fetch_wait_s = 50;
  // [identity]: certs + id, or explicit ca/cert/key (which win).
  std::string certs_dir;
  std::string client_id;
  std::string ca;
  std::string cert;
  std::string key;
  // [data]
  std::string data_kind = "fashion-mnist";  // or "csv"
  std::string data_path;
  std::string delimiter = ",";  // one character
  std::vector<std::string> ignore_columns;
  // [model]
  std::string expected_architecture;  // "" = whatever the run trains
  std::string torchscript_path;
  // [privacy]: the site's floor, never weaker than this.
  std::string require_privacy = "none";  // none | dp | distributed-dp
  double min_noise_multiplier = 0;
  // [site] record-level DP-SGD (client/training/record_dp_trainer.h): off
  // unless record_dp_noise_multiplier > 0.
  double record_dp_noise_multiplier = 0;
  double record_dp_clip = 0;
  double record_dp_delta = 1e-5;
  double record_epsilon_budget = 0;
  std::string record_dp_ledger;  // "" = state_dir/record_dp_ledger.json
  // [site]
  std::string state_dir;
  std::string base_weights;  // the pre-trained base of a run that freezes
  // Federated evaluation: this site's own evaluation data (data.kind's
  // format and the run's schema) instead of a held-out part of data.path.
  std::string eval_data;
  int threads = 1;
  int max_failures = 0;  // consecutive; 0 = retry forever
  std::string log_level = "info";
  std::string log_format = "text";  // text | json
  std::string metrics_listen;       // "" = no metrics endpoint
  double metrics_linger_s = 0;      // after the run, still serving metrics
  // [partition]: play one shard of the data (simulating a site).
  std::string partition;  // "", iid, dirichlet:A, shards:K
  int num_partitions = 1;
  int partition_index = 0;
  uint64_t partition_seed = 1;
};

inline ClientConfig DefaultClientConfig() { return ClientConfig(); }

const ConfigSchema<ClientConfig>& ClientConfigSchema();

// The commented reference: every key with its default and flag.
std::string ClientConfigReference();

// Reads TOML text onto `config` (see above: not validated).
absl::Status ParseClientConfig(const std::string& toml_text,
                               const std::string& origin, ClientConfig* config);
// ReadFileToString + ParseClientConfig; NotFound for a missing file.
absl::Status LoadClientConfig(const std::string& path, ClientConfig* config);

// The command line's values for the keys that have a flag.
struct ClientFlags {
  struct Slot {
    std::vector<std::string> items;  // the flag's value(s)
    bool given = false;              // bool flags
    CLI::Option* option = nullptr;
  };
  std::map<std::string, Slot> slots;  // by key; addresses stay stable
};

// One CLI11 option per key with a flag; help names the key it overrides.
void AddClientFlags(CLI::App* app, ClientFlags* flags);
// Stores every flag that was given into `config` (InvalidArgument naming the
// flag for a value of the wrong type).
absl::Status ApplyClientFlags(const ClientFlags& flags, ClientConfig* config);

// InvalidArgument naming the key and its flag if `config` is not runnable;
// NotFound if its CSV data file does not exist.
absl::Status ValidateClientConfig(const ClientConfig& config);

// coordinator.fetch_wait_s as the transport's wait, in whole milliseconds
// (nearest; a positive wait is at least 1 ms: 0 means polling).
// REQUIRES: ValidateClientConfig(config).ok().
std::chrono::milliseconds ClientFetchWait(const ClientConfig& config);

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_CLIENT_CONFIG_H_
