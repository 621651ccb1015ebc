// [extra_training]: images of a second dataset that join the training split
// only, with coarse labels ("a tumour of one of these three kinds"). Why: a
// network trained on one collection per class learns the collection; tumours
// and healthy brains from other collections, even without their exact kind,
// take that shortcut away (docs/transfer.md, issue 13).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cerebra/data.h"
#include "cerebra/dataset.h"

namespace cerebra {

class Registry;
struct Pipeline;

// One "CLASS = A | B" entry of [extra_training] labels, resolved: the extra
// dataset's class index and the pipeline dataset's classes it may be.
struct CoarseLabel {
  int extra_class = -1;
  std::vector<int> classes;
};

// Parses the labels list against both datasets' class names. Throws Error
// naming the entry and the classes it could have named.
std::vector<CoarseLabel> parse_coarse_labels(const std::vector<std::string>& entries,
                                             const std::vector<std::string>& extra_classes,
                                             const std::vector<std::string>& classes);

// Adds the [extra_training] images to split.train, less every image that is,
// or nearly is, one of `samples` (the pipeline dataset's, all splits: none of
// its test pictures may be trained on), and fills split.label_sets,
// extra_training, excluded_extra and extra_dataset. Returns the dataset that
// loads both (the pipeline's own when [extra_training] names none).
std::shared_ptr<const Dataset> add_extra_training(const Pipeline& pipeline, const Registry& registry,
                                                  std::shared_ptr<const Dataset> dataset,
                                                  const std::vector<Sample>& samples, SplitResult& split);

}  // namespace cerebra
