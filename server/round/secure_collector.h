// Secure collection: the attempt runs the secure-aggregation protocol
// (SecureRound over server/secagg/), so the coordinator learns only the sum
// of the survivors' masked inputs, never an individual update.
//
// Without DP each attempt's encoding is fitted to its cohort
// (ChooseCohortEncoding, common/secagg/input_encoding.h): the largest
// quantization the cohort's sum allows and max_weight from the largest
// declared example count, so small sites keep full precision. With DP the
// masked vectors are DP encodings and Close() returns the private sum for
// the DpPlanner to release.
//
// A selected client that has not fetched this attempt's task is still in an
// earlier attempt's session: its messages get an abort telling it to fetch
// the new task, and do not count as an answer. Once a client sends a
// protocol message it has answered the attempt's task (it must not train on
// it again). Plaintext updates are refused. The attempt closes when the
// protocol completes or aborts; an abort, too few survivors, or (if
// secagg_error.fail) a decoded mean whose quantization error exceeds
// secagg_error.max_relative_error leave nothing to release.
//
// With an evaluation task the masked vector is the update's encoding
// followed by the site's report (EvalVectorCodec, sized for the cohort and
// max_examples), and Close() decodes the sum of the reports from the tail;
// an evaluation-only attempt decodes nothing else (its updates are zero).
// With per_site, each masked input comes with the site's report in the
// clear, checked like a plaintext one (a bad one refuses the input).
//
// Thread-compatible (see round_collector.h).
#ifndef FEDLEARN_SERVER_ROUND_SECURE_COLLECTOR_H_
#define FEDLEARN_SERVER_ROUND_SECURE_COLLECTOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/evaluation/eval_vector_codec.h"
#include "server/round/round_collector.h"
#include "server/round/secure_round.h"

namespace fedlearn {

class SecureCollector : public RoundCollector {
 public:
  // FailedPrecondition if the cohort cannot be encoded or the protocol
  // cannot start for it.
  static absl::StatusOr<std::unique_ptr<SecureCollector>> Start(
      const AttemptSetup& setup);

  void DescribeTask(Task& task) const override;
  // Refused: secure rounds take masked inputs only.
  absl::Status SubmitUpdate(const std::string& client_id,
                            UpdateSubmission submission,
                            const absl::Status& content) override;
  // PermissionDenied unless `client_id` is in the cohort.
  absl::Status AcceptsSecAgg(const std::string& client_id) const override;
  absl::StatusOr<SecAggExchangeReply> SecAggExchange(
      const std::string& client_id,
      const v1::SecAggClientMessage* message) override;
  absl::Status SubmitMaskedInput(const std::string& client_id,
                                 std::vector<uint32_t> masked,
                                 std::vector<uint64_t> eval_report) override;
  size_t MaskedInputLength() const override {
    return secure_->encoded_length();
  }
  // Senders of advertisements the coordinator refused and the clients
  // ResolveBlame picks from the attempt's blame (SecureRound::Exclusions).
  std::vector<ClientExclusion> TakeExclusions() override;
  // "Training", then SecureRound::TakePhasesEntered().
  std::vector<std::string> TakePhasesEntered() override;
  bool Poll(TimePoint now) override;
  absl::StatusOr<CollectionResult> Close() override;

 private:
  SecureCollector(const AttemptSetup& setup,
                  std::unique_ptr<SecureRound> secure,
                  std::optional<EvalVectorCodec> eval_codec);

  // The round's encoding without DP, fitted to the cohort.
  static absl::StatusOr<SecAggRoundConfig> FitEncoding(
      const AttemptSetup& setup, const std::vector<std::string>& cohort);
  absl::StatusOr<CollectionResult> ClosePrivate();
  absl::StatusOr<CollectionResult> CloseMean();
  // The evaluation of a closed attempt from its unmasked `sum`'s tail (and
  // the survivors' clear reports, with per_site); InvalidArgument if the
  // tail is not a sum of honest encodings.
  absl::StatusOr<CollectedEvaluation> DecodeEvaluation(
      absl::Span<const uint32_t> sum);
  // The aggregate's common fields (who is in it, who dropped).
  RoundAggregate Summarize(int participants) const;

  const int min_updates_;
  const RoundEngineConfig::SecAggErrorPolicy error_policy_;
  const bool dp_;
  std::unique_ptr<SecureRound> secure_;
  std::shared_ptr<const v1::SecAggConfig> protocol_config_;
  SecureRound::Status status_ = SecureRound::Status::kRunning;
  // Attempts with an evaluation task.
  std::optional<EvalVectorCodec> eval_codec_;
  std::optional<EvalReportCollection> eval_;  // per_site clear reports
  bool evaluate_only_ = false;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_SECURE_COLLECTOR_H_
