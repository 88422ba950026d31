// fedlearn-sim's live round bar on a terminal: "rounds [###...] k/R round
// k/R | acc 81.9% | eps 1.23" on stderr (progress_bar.h: nothing when stderr
// is not a terminal). The per-round lines RoundProgressPrinter writes to
// stdout stay exactly as they are: the bar is erased before each of them
// (the `before_printer` listener, registered before the printer) and drawn
// again after it (`after_printer`, registered after), so a line never lands
// in the middle of the bar.
//
// Thread-safety: the listeners may be called from the engine's threads;
// ProgressBar is thread-safe, and After's own state is touched only by the
// round hooks, which the engine calls one at a time (never OnPhaseStarted,
// which runs under the engine's lock and must not write to a terminal).
#ifndef FEDLEARN_APPS_SIMULATION_ROUND_PROGRESS_BAR_H_
#define FEDLEARN_APPS_SIMULATION_ROUND_PROGRESS_BAR_H_

#include <string>
#include <vector>

#include "common/util/progress_bar.h"
#include "server/round/round_types.h"

namespace fedlearn {

class RoundProgressBar {
 public:
  explicit RoundProgressBar(int num_rounds);
  RoundListener* before_printer() { return &before_; }
  RoundListener* after_printer() { return &after_; }

  // The detail text for a completed round (exposed for tests).
  static std::string Describe(const RoundSummary& summary, int num_rounds);

 private:
  class Before : public RoundListener {
   public:
    explicit Before(ProgressBar* bar) : bar_(bar) {}
    absl::Status OnRoundCompleted(const RoundSummary&,
                                  const FlatModel&) override;
    void OnRoundRetried(uint64_t, int, const std::string&) override;

   private:
    ProgressBar* bar_;
  };
  class After : public RoundListener {
   public:
    After(ProgressBar* bar, int num_rounds)
        : bar_(bar), num_rounds_(num_rounds) {}
    absl::Status OnRoundCompleted(const RoundSummary& summary,
                                  const FlatModel&) override;
    void OnRoundStarted(uint64_t round, int attempt,
                        const std::vector<std::string>& cohort) override;
    void OnRunEnded(const absl::Status& outcome) override;

   private:
    ProgressBar* bar_;
    const int num_rounds_;
    std::string last_;  // the last completed round's detail
  };

  ProgressBar bar_;
  Before before_;
  After after_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_SIMULATION_ROUND_PROGRESS_BAR_H_
