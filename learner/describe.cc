// The learner's fields in the site report (core/learner_hooks.h LearnerDescribeSite):
// the site's strategy (the band with the most samples speaks for the site), its ratings
// and sample counts, and every band's choice under "bands".
#include <string.h>

#include "core/format.h"
#include "core/learner_hooks.h"
#include "core/route_table.h"
#include "learner/learner.h"

namespace hakmem {
namespace {

using learner::kBandNames;
using learner::kStrategyNames;

// In frozen mode there are no ratings; the route table has the choice.
const char* FrozenChoice(uintptr_t site, int band) {
  const int idx = static_cast<int>(RouteDecision(site, band)) - 1;
  return idx >= 0 && idx < learner::kNumLearnedStrategies ? kStrategyNames[idx] : nullptr;
}

}  // namespace

size_t LearnerDescribeSite(uintptr_t site, char* buf, size_t cap) {
  using namespace learner;
  Formatter f(buf, cap);
  if (Mode() == LearnMode::kFrozen) {
    const char* main = nullptr;
    for (int b = 0; b < kNumBands && main == nullptr; ++b) main = FrozenChoice(site, b);
    if (main == nullptr) return 0;
    f.Str("\"strategy\": \"").Str(main).Str("\", \"ratings\": {}, \"samples\": {}, \"bands\": {");
    bool first = true;
    for (int b = 0; b < kNumBands; ++b) {
      const char* c = FrozenChoice(site, b);
      if (c == nullptr) continue;
      f.Str(first ? "" : ", ").Str("\"").Str(kBandNames[b]).Str("\": \"").Str(c).Str("\"");
      first = false;
    }
    f.Str("}");
    return f.size();
  }
  BandView v[kNumBands];
  if (!ViewSite(site, v)) return 0;
  int main_band = -1;
  uint64_t most = 0;
  for (int b = 0; b < kNumBands; ++b) {
    if (!v[b].seen) continue;
    uint64_t n = 0;
    for (uint64_t s : v[b].samples) n += s;
    if (main_band < 0 || n > most) main_band = b, most = n;
  }
  if (main_band < 0) return 0;
  const BandView& m = v[main_band];
  f.Str("\"strategy\": ");
  if (m.chosen >= 0) {
    f.Str("\"").Str(kStrategyNames[m.chosen]).Str("\"");
  } else {
    f.Str("null");
  }
  f.Str(", \"ratings\": {");
  bool first = true;
  for (int k = 0; k < kNumLearnedStrategies; ++k) {
    if (!m.eligible[k]) continue;
    f.Str(first ? "" : ", ").Str("\"").Str(kStrategyNames[k]).Str("\": ").Fixed(m.rating[k], 1);
    first = false;
  }
  f.Str("}, \"samples\": {");
  first = true;
  for (int k = 0; k < kNumLearnedStrategies; ++k) {
    if (!m.eligible[k]) continue;
    f.Str(first ? "" : ", ").Str("\"").Str(kStrategyNames[k]).Str("\": ").Uint(m.samples[k]);
    first = false;
  }
  f.Str("}, \"bands\": {");
  first = true;
  for (int b = 0; b < kNumBands; ++b) {
    if (!v[b].seen) continue;
    f.Str(first ? "" : ", ").Str("\"").Str(kBandNames[b]).Str("\": ");
    f.Str(v[b].chosen >= 0 ? "\"" : "").Str(v[b].chosen >= 0 ? kStrategyNames[v[b].chosen] : "null");
    f.Str(v[b].chosen >= 0 ? "\"" : "");
    first = false;
  }
  f.Str("}");
  return f.size();
}

}  // namespace hakmem
