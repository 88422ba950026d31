// The "Federated evaluation" section of the run report: a table of every
// recorded evaluation (federated_eval_report.h), the fairness tables of the
// last one (the spread of site accuracy and loss, the sites below the
// configured accuracy threshold, the binary metrics, per-group accuracy and
// rates with the demographic-parity and equal-opportunity differences), and
// a per-site table from the last evaluation that has per-site metrics
// ([evaluation] per_site = true).
//
// Guarantees: every string from the state directory (site ids, which are
// the sites' certificate names, group names) is escaped and truncated
// (EscapeUntrusted) and then HTML-escaped; a value that is absent or not a
// number is shown as "n/a"; the section is empty ("") when the run recorded
// no evaluation, so reports of other runs do not change.
// Thread-safety: pure function.
#ifndef FEDLEARN_SERVER_REPORT_FEDERATED_EVAL_HTML_H_
#define FEDLEARN_SERVER_REPORT_FEDERATED_EVAL_HTML_H_

#include <string>

#include "server/report/run_report.h"

namespace fedlearn {

// CSS for the section's tables (the report's <style> includes it).
extern const char kFederatedEvalStyle[];

// The summary table's row for the last evaluation (accuracy, worst site,
// PR-AUC for binary tasks); "" without one.
std::string FederatedEvaluationSummaryRow(const RunReport& report);

// The section's HTML (see the contract above).
std::string FederatedEvaluationSection(const RunReport& report);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_REPORT_FEDERATED_EVAL_HTML_H_
