// The built-in `pool` dataset: a pretraining set gathered from other datasets
// without touching their test images. A source named by a pipeline file is
// split exactly as that pipeline's runs split it; one named as a dataset is
// split as the pool's own pipeline ([split] section and [run] seed) would. The
// pool holds the sources' training images (labels kept, as "source/class"),
// their validation images (for a linear probe), and unlabelled folders — less
// every image that is, or nearly is, an image of a source's test split, so a
// network pretrained on the pool and fine-tuned on a source is never scored on
// pictures it has seen (the audit's near-copy rule decides; docs/transfer.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cerebra/data.h"
#include "cerebra/dataset.h"
#include "cerebra/parameters.h"

namespace cerebra {

class Registry;
struct Pipeline;

// How the pool splits its sources: a pipeline's [split] section, seed and cache.
struct PoolSplitting {
  Parameters split;
  std::uint64_t seed = 42;
  std::string cache_dir = ".cache/cerebra";
};

class PoolDataset : public Dataset {
 public:
  struct Source {
    std::string name;
    std::shared_ptr<const Pipeline> pipeline;  // null for a source named as a dataset
    std::shared_ptr<const Dataset> dataset;
    std::size_t first_class = 0;  // its classes' offset in class_names()
  };

  PoolDataset(const Parameters& parameters, const Registry& registry, PoolSplitting splitting);

  std::vector<std::string> class_names() const override;
  // Training (subset "train", unlabelled included) and validation ("val") images.
  std::vector<Sample> samples() const override;
  using Dataset::load;
  cv::Mat load(const Sample& sample, const LoadHint& hint) const override;
  std::string fingerprint(const Sample& sample) const override;
  // Lists each source and unlabelled folder; gathering the pool (splitting
  // and auditing every source) is left to samples(), a run's work.
  void check() const override;

  // The split the pool fixes: train and val as samples() marks them, no test;
  // excluded_overlap counts the images left out as copies of test images.
  SplitResult split() const;

 private:
  struct Contents;

  const Contents& contents() const;  // gathered on first use
  SplitResult split_source(const Source& source) const;

  const Registry& registry_;
  std::vector<Source> sources_;
  std::vector<std::string> class_names_, unlabelled_folders_;
  PoolSplitting splitting_;
  mutable std::once_flag gathered_;
  mutable std::shared_ptr<const Contents> contents_;
};

// Registers `pool` (kind dataset). Outside a pipeline it splits its sources
// with the default [split] (70/15/15, near copies grouped) and seed 42.
void register_builtin_datasets(Registry& registry);

}  // namespace cerebra
