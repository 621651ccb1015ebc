// The real datasets, read from $CEREBRA_DATA (skipped when it is unset or the
// folders are absent). Counts are those of the shared development copies.
#include <cstdlib>
#include <map>

#include "data_test_support.h"

namespace cerebra::testing {
namespace {

std::string data_folder(const std::string& name) {
  const char* data = std::getenv("CEREBRA_DATA");
  if (!data || !*data) return "";
  std::string path = std::string(data) + "/" + name;
  return std::filesystem::is_directory(path) ? path : "";
}

std::map<int, int> counts(const std::vector<Sample>& samples) {
  std::map<int, int> out;
  for (const auto& s : samples) ++out[s.label];
  return out;
}

TEST(RealDatasets, Br35hClassCounts) {
  if (data_folder("br35h").empty()) GTEST_SKIP() << "$CEREBRA_DATA/br35h not available";
  auto dataset = make_dataset("br35h");
  auto samples = dataset->samples();
  auto per_class = counts(samples);
  EXPECT_EQ(per_class[1], 1350);  // yes
  EXPECT_EQ(per_class[0], 1350);  // no
  EXPECT_EQ(samples.size(), 2700u);  // pred/ is not used
  SplitResult split = split_samples(*dataset, samples,
                                    params({{"train", 0.7}, {"val", 0.15}, {"test", 0.15}}), 42);
  EXPECT_GE(split.duplicate_groups, 1u);  // no355.jpg and no532.jpg at least
}

TEST(RealDatasets, FourClassTrainingCountsAndDuplicates) {
  if (data_folder("brain-tumor-mri-4class").empty()) GTEST_SKIP() << "$CEREBRA_DATA/brain-tumor-mri-4class not available";
  auto dataset = make_dataset("brain_tumor_4class");
  auto samples = dataset->samples();
  std::vector<Sample> training;
  for (const auto& s : samples)
    if (s.subset.empty()) training.push_back(s);
  auto per_class = counts(training);
  EXPECT_EQ(per_class[0], 826);  // glioma
  EXPECT_EQ(per_class[1], 822);  // meningioma
  EXPECT_EQ(per_class[2], 395);  // no tumor
  EXPECT_EQ(per_class[3], 827);  // pituitary
  SplitResult split = split_samples(*dataset, training,
                                    params({{"train", 0.7}, {"val", 0.15}, {"test", 0.15}}), 42);
  EXPECT_EQ(split.duplicate_groups, 73u);
  EXPECT_EQ(split.duplicate_files, 166u);
  EXPECT_EQ(split.train.size() + split.val.size() + split.test.size(), 2870u);
}

TEST(RealDatasets, Br35hLoadsThroughThePipeline) {
  if (data_folder("br35h").empty()) GTEST_SKIP() << "$CEREBRA_DATA/br35h not available";
  auto dataset = make_dataset("br35h");
  auto samples = dataset->samples();
  samples.resize(64);
  LoaderOptions o;
  o.batch_size = 16;
  o.threads = 2;
  ImageLoader loader(dataset, samples, {stage("crop_brain"), stage("resize", {{"size", std::int64_t{64}}})},
                     {stage("random_flip")}, o);
  auto batches = read_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[0].width, 64);
  EXPECT_TRUE(loader.skipped().empty());
}

}  // namespace
}  // namespace cerebra::testing
