#include "tools/diff.h"

#include <math.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tools/units.h"

namespace hakmem {
namespace tools {
namespace {

const char* StrategyName(int index) {
  return index >= 0 && index < learner::kNumLearnedStrategies ? learner::kStrategyNames[index]
                                                                : "none";
}

std::string TableFrameLabel(const Table& t, const learner::TableFrame& f) {
  const learner::TableModule& m = t.meta.modules[f.module];
  std::string module(m.path);
  const size_t slash = module.rfind('/');
  if (slash != std::string::npos) module = module.substr(slash + 1);
  if (module.empty()) module = absl::StrCat("[", std::string(m.build_id_hex).substr(0, 12), "]");
  return absl::StrFormat("%s+0x%x", Printable(module), f.offset);
}

// "pool 85 ns" or "pool": a strategy and its mean cost, if measured.
std::string WithCost(const LearnedBand& b, int k) {
  if (k < 0) return "none (undecided)";
  if (!b.measured[k]) return StrategyName(k);
  return absl::StrCat(StrategyName(k), " (mean cost ", HumanDuration(b.mean_cost_ns[k]), ")");
}

}  // namespace

Learned LearnedFromTelemetry(const telemetry::Telemetry& t) {
  Learned out;
  for (const SiteTotals& s : AggregateSites(t)) {
    if (s.bands.empty()) continue;
    const telemetry::Site& site = t.sites(s.site);
    LearnedSite& ls = out[IdentityOf(t, site)];
    ls.label = SiteLabel(t, site);
    ls.symbolic = site.location_ids_size() == 0 ||
                  !DescribeLocation(t, site.location_ids(NamingFrame(site))).symbol.empty();
    std::vector<std::string> frames;
    for (uint64_t id : site.location_ids()) frames.push_back(FrameLabel(DescribeLocation(t, id)));
    ls.context = absl::StrJoin(frames, " <- ");
    for (const BandTotals& b : s.bands) {
      LearnedBand& lb = ls.bands[b.band];
      lb.chosen = b.has_choice ? b.chosen : -1;
      for (int k = 0; k < learner::kNumLearnedStrategies; ++k) {
        lb.measured[k] = b.strategies[k].measured;
        lb.samples[k] = b.strategies[k].samples;
        lb.mean_cost_ns[k] = b.strategies[k].MeanCostNs();
      }
    }
  }
  return out;
}

Learned LearnedFromTable(const Table& t) {
  Learned out;
  for (const learner::TableEntry& e : t.entries) {
    SiteIdentity id;
    std::vector<std::string> frames;
    for (uint32_t i = 0; i < e.num_frames; ++i) {
      const learner::TableModule& m = t.meta.modules[e.frames[i].module];
      id.frames.emplace_back(ModuleIdentity(m.build_id_hex, m.path), e.frames[i].offset);
      frames.push_back(TableFrameLabel(t, e.frames[i]));
    }
    id.name = e.site_name;
    LearnedSite& ls = out[id];
    ls.label = e.num_frames == 0 ? absl::StrCat("site '", Printable(e.site_name), "'") : frames[0];
    ls.symbolic = e.num_frames == 0;
    ls.context = absl::StrJoin(frames, " <- ");
    LearnedBand& lb = ls.bands[e.band];
    lb.chosen = e.strategy;
    for (int k = 0; k < learner::kNumLearnedStrategies; ++k) {
      lb.measured[k] = e.eligible[k];
      lb.samples[k] = e.samples[k];
      lb.mean_cost_ns[k] = e.mean_cost_ns[k];
    }
  }
  return out;
}

std::vector<Change> DiffLearned(const Learned& a, const Learned& b, double threshold) {
  // Every site of either, and whose description names it (a's, unless only b's is
  // symbolic: a table knows no function names).
  std::map<SiteIdentity, std::pair<const LearnedSite*, const LearnedSite*>> both;
  for (const auto& [id, s] : a) both[id].first = &s;
  for (const auto& [id, s] : b) both[id].second = &s;
  std::map<std::string, int> label_count;
  auto label_of = [](const std::pair<const LearnedSite*, const LearnedSite*>& p) {
    if (p.first == nullptr) return p.second;
    if (p.second != nullptr && !p.first->symbolic && p.second->symbolic) return p.second;
    return p.first;
  };
  for (const auto& [id, p] : both) ++label_count[label_of(p)->label];

  std::vector<std::tuple<std::string, int, Change>> changes;
  for (const auto& [id, p] : both) {
    const LearnedSite* named = label_of(p);
    std::string site = named->label;
    if (label_count[site] > 1 && !named->context.empty()) absl::StrAppend(&site, " [", named->context, "]");
    std::set<int> bands;
    if (p.first != nullptr) for (const auto& [band, lb] : p.first->bands) bands.insert(band);
    if (p.second != nullptr) for (const auto& [band, lb] : p.second->bands) bands.insert(band);
    for (int band : bands) {
      const LearnedBand* x = nullptr;
      const LearnedBand* y = nullptr;
      if (p.first != nullptr) {
        auto it = p.first->bands.find(band);
        if (it != p.first->bands.end()) x = &it->second;
      }
      if (p.second != nullptr) {
        auto it = p.second->bands.find(band);
        if (it != p.second->bands.end()) y = &it->second;
      }
      const std::string where =
          absl::StrFormat("%-6s  %s", band >= 0 && band < 3 ? learner::kBandNames[band] : "?", site);
      Change c;
      if (x == nullptr) {
        c = {ChangeKind::kNew,
             absl::StrFormat("new     %s: chooses %s", where, WithCost(*y, y->chosen))};
      } else if (y == nullptr) {
        c = {ChangeKind::kGone, absl::StrFormat("gone    %s: chose %s", where, WithCost(*x, x->chosen))};
      } else if (x->chosen != y->chosen) {
        c = {ChangeKind::kChosen, absl::StrFormat("chosen  %s: %s -> %s", where,
                                                  WithCost(*x, x->chosen), WithCost(*y, y->chosen))};
      } else {
        const int k = x->chosen;
        if (k < 0 || !x->measured[k] || !y->measured[k]) continue;
        const double before = x->mean_cost_ns[k], after = y->mean_cost_ns[k];
        std::string moved;
        if (before > 0) {
          const double rel = (after - before) / before;
          if (!(fabs(rel) > threshold)) continue;
          moved = absl::StrFormat("%+.1f%%", rel * 100);
        } else {
          if (after == before) continue;
          moved = "from 0";
        }
        c = {ChangeKind::kCost, absl::StrFormat("cost    %s: %s mean cost %s -> %s (%s)", where,
                                                StrategyName(k), HumanDuration(before),
                                                HumanDuration(after), moved)};
      }
      changes.emplace_back(site, band, std::move(c));
    }
  }
  std::stable_sort(changes.begin(), changes.end(), [](const auto& l, const auto& r) {
    return std::tie(std::get<0>(l), std::get<1>(l)) < std::tie(std::get<0>(r), std::get<1>(r));
  });
  std::vector<Change> out;
  for (auto& [site, band, c] : changes) out.push_back(std::move(c));
  return out;
}

}  // namespace tools
}  // namespace hakmem
