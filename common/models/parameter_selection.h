// Which parameters of a model train: `[model] trainable = [...]` or
// `frozen = [...]`, shell-style globs over parameter names (fnmatch(3)
// without flags: `*` matches any run of characters, dots included, `?` one
// character, `[ab]` a class), e.g. trainable = ["fc3.*"] trains only
// LeNet-5's last layer.
//
// Guarantees: the result has one entry per name, in the names' order.
// Refuses (InvalidArgument): both lists set, an empty pattern, a pattern
// that matches no name (naming it, so a typo never silently freezes or
// trains nothing), and a selection that leaves no parameter trainable.
// Torch-free; thread-safe (no state).
#ifndef FEDLEARN_COMMON_MODELS_PARAMETER_SELECTION_H_
#define FEDLEARN_COMMON_MODELS_PARAMETER_SELECTION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedlearn {

// True when a selection is configured (either list non-empty).
inline bool HasParameterSelection(const std::vector<std::string>& trainable,
                                  const std::vector<std::string>& frozen) {
  return !trainable.empty() || !frozen.empty();
}

// The checks that need no model: not both lists, no empty pattern.
absl::Status ValidateParameterPatterns(
    const std::vector<std::string>& trainable,
    const std::vector<std::string>& frozen);

// Per name, whether it trains: names matching a `trainable` pattern (or,
// with `frozen` given, names matching no `frozen` pattern). With neither
// list set, every name trains.
absl::StatusOr<std::vector<bool>> SelectTrainable(
    const std::vector<std::string>& names,
    const std::vector<std::string>& trainable,
    const std::vector<std::string>& frozen);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_MODELS_PARAMETER_SELECTION_H_
