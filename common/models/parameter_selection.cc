#include "common/models/parameter_selection.h"

#include <fnmatch.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

bool Matches(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

// The first few names, for an error that says what there is to match.
std::string SomeNames(const std::vector<std::string>& names) {
  constexpr size_t kShown = 8;
  std::vector<std::string> shown(
      names.begin(), names.begin() + std::min(names.size(), kShown));
  return absl::StrCat(absl::StrJoin(shown, ", "),
                      names.size() > kShown ? ", ..." : "");
}

}  // namespace

absl::Status ValidateParameterPatterns(
    const std::vector<std::string>& trainable,
    const std::vector<std::string>& frozen) {
  if (!trainable.empty() && !frozen.empty()) {
    return absl::InvalidArgumentError(
        "set either trainable or frozen parameter patterns, not both");
  }
  for (const std::string& p : trainable.empty() ? frozen : trainable) {
    if (p.empty()) {
      return absl::InvalidArgumentError("a parameter pattern is empty");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<bool>> SelectTrainable(
    const std::vector<std::string>& names,
    const std::vector<std::string>& trainable,
    const std::vector<std::string>& frozen) {
  RETURN_IF_ERROR(ValidateParameterPatterns(trainable, frozen));
  const bool by_trainable = !trainable.empty();
  const std::vector<std::string>& patterns = by_trainable ? trainable : frozen;
  std::vector<bool> out(names.size(), !by_trainable);
  for (const std::string& pattern : patterns) {
    bool matched = false;
    for (size_t i = 0; i < names.size(); ++i) {
      if (!Matches(pattern, names[i])) continue;
      matched = true;
      out[i] = by_trainable;
    }
    if (!matched) {
      return absl::InvalidArgumentError(
          absl::StrCat(by_trainable ? "trainable" : "frozen", " pattern \"",
                       EscapeUntrusted(pattern, 64),
                       "\" matches no parameter (the model's "
                       "parameters: ",
                       SomeNames(names), ")"));
    }
  }
  if (std::find(out.begin(), out.end(), true) == out.end()) {
    return absl::InvalidArgumentError(
        "the frozen patterns freeze every parameter: nothing would train");
  }
  return out;
}

}  // namespace fedlearn
