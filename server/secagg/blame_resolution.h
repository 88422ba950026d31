// Whom the coordinator keeps out of a round's remaining attempts after
// clients blamed neighbours for key shares that did not decrypt or
// authenticate (Abort.blamed; docs/security.md, "Secure aggregation: what
// the coordinator verifies, and blame").
//
// Within one attempt the coordinator cannot tell whether the accused sender
// sent garbage or the accuser lies (an honest coordinator knows it did not
// tamper itself). Each blame is an edge {accuser, blamed}; an honest pair is
// never an edge. The rule: if one client is an end of every edge, it alone
// explains all of them and is excluded; otherwise (one edge, whose two ends
// both explain it, or edges no single client explains, so several clients
// misbehaved) both ends of every edge are excluded. So one malicious member
// is excluded after the first attempt it disrupts, whether it sends bad
// shares or lodges false blame, and costs the honest at most one collateral
// exclusion (the lone edge case). Pure function; thread-compatible.
#ifndef FEDLEARN_SERVER_SECAGG_BLAME_RESOLUTION_H_
#define FEDLEARN_SERVER_SECAGG_BLAME_RESOLUTION_H_

#include <string>
#include <vector>

namespace fedlearn {

struct BlameEdge {
  std::string accuser;
  std::string blamed;
};

struct BlameExclusion {
  std::string client_id;
  std::string reason;  // the coordinator's wording; ids are cohort ids
};

// The clients to exclude for `edges` (validated blame of one attempt),
// sorted by id, each once, with why.
std::vector<BlameExclusion> ResolveBlame(const std::vector<BlameEdge>& edges);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_BLAME_RESOLUTION_H_
