// Pieces of the audit shared between its source files (not public API).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/audit.h"

namespace cerebra::detail {

// One labelled, readable image of a source, as the cluster analysis sees it.
struct ClusterItem {
  const ImageTraits* traits;
  int label;
  std::string file;
  std::size_t group;  // near-duplicate group: copies are not each other's neighbours
  std::string split;  // train, val or test; "" when the source is not split
};

// Source clusters (k-means over acquisition traits, k by silhouette when
// `clusters` is 0), each with its class mix and typical traits; a nearest-
// neighbour classifier on the traits alone against chance; and the confounds
// these imply, in words.
nlohmann::json source_clusters(const std::vector<ClusterItem>& items, const std::vector<std::string>& class_names,
                               int clusters);

// One source's counts (per class, per split, unlabelled folders), image
// sizes, channel counts, intensity statistics per class, and its clusters.
// `traits` holds one entry per sample of the source, in order.
// `groups` holds each sample's near-duplicate group.
nlohmann::json source_statistics(const AuditSource& source, const std::vector<const ImageTraits*>& traits,
                                 const std::vector<std::size_t>& groups, int clusters);

}  // namespace cerebra::detail
