#include "server/secagg/blame_resolution.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fedlearn {

std::vector<BlameExclusion> ResolveBlame(const std::vector<BlameEdge>& edges) {
  // Unordered pairs, so A blaming B and B blaming A are one edge.
  std::set<std::pair<std::string, std::string>> pairs;
  for (const BlameEdge& e : edges) {
    if (e.accuser == e.blamed) continue;
    pairs.insert(std::minmax(e.accuser, e.blamed));
  }
  if (pairs.empty()) return {};
  // Ends common to every edge.
  std::set<std::string> common = {pairs.begin()->first, pairs.begin()->second};
  for (const auto& [a, b] : pairs) {
    for (auto it = common.begin(); it != common.end();) {
      it = (*it == a || *it == b) ? std::next(it) : common.erase(it);
    }
  }
  std::map<std::string, std::set<std::string>> partners;
  for (const auto& [a, b] : pairs) {
    partners[a].insert(b);
    partners[b].insert(a);
  }
  std::vector<BlameExclusion> out;
  if (common.size() == 1) {
    const std::string& suspect = *common.begin();
    out.push_back(
        {suspect, absl::StrCat("it is party to every blame of undecryptable "
                               "key shares in this attempt (with [",
                               absl::StrJoin(partners[suspect], ","), "])")});
    return out;
  }
  const char* why = pairs.size() == 1
                        ? "one end of the only blame of undecryptable key "
                          "shares in this attempt, which cannot tell which "
                          "end misbehaved"
                        : "party to blame of undecryptable key shares that "
                          "no single client explains";
  for (const auto& [id, with] : partners) {
    out.push_back(
        {id, absl::StrCat(why, " (with [", absl::StrJoin(with, ","), "])")});
  }
  return out;
}

}  // namespace fedlearn
