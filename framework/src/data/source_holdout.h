// The source-held-out split's choice of clusters (split.cpp; not public API).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cerebra/audit.h"

namespace cerebra::detail {

// One duplicate group as the source-held-out split sees it.
struct SourceGroup {
  int label = -1;          // the group's class (its first member's)
  int cluster = -1;        // its first member's source cluster; -1 unreadable
  std::size_t files = 0;
  bool fixed_test = false; // holds a Sample::subset == "test" file: test whatever the clusters
};

// Where each group goes: 0 train, 1 val, 2 test. Per class, whole clusters
// other than the class's largest go to test, then to val, farthest from the
// largest first, until each split's fraction of the class is roughly met
// (see the definition for the rules). Throws Error naming a class whose
// images lie in one cluster.
std::vector<int> hold_out_sources(const std::vector<SourceGroup>& groups, const SourceClusters& clusters,
                                  const std::vector<std::string>& class_names, double val_fraction,
                                  double test_fraction, std::uint64_t seed);

}  // namespace cerebra::detail
