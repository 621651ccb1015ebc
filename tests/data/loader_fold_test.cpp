// The loader applies a pipeline's last normalize while it writes the batch
// (LoaderOptions::fold_channel_map): the batches must be the ones the stage
// itself gives, bit for bit, for every placement, preset and channel layout.
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "data_test_support.h"

namespace cerebra::testing {
namespace {

namespace fs = std::filesystem;

struct FoldCase {
  std::string label;
  Settings normalize;
  bool in_augment;  // last augment stage (after a flip), else last preprocess stage
  bool gray_files;  // one-channel images on disk
  int channels;     // channels of the batch
};

std::shared_ptr<Dataset> folder_of_images(TempDir& dir, bool gray) {
  cv::RNG rng(11);
  for (int i = 0; i < 6; ++i) {
    cv::Mat image(20 + i, 24, gray ? CV_8UC1 : CV_8UC3);
    rng.fill(image, cv::RNG::UNIFORM, 0, 256);
    write_image(dir.file(std::string("img/") + (i % 2 ? "a/" : "b/") + std::to_string(i) + ".png"), image);
  }
  return make_dataset("image_folder", {{"root", dir.file("img")}});
}

std::vector<Batch> epoch_of(const std::shared_ptr<Dataset>& dataset, const FoldCase& c, bool fold) {
  std::vector<Stage> preprocess = {stage("resize", {{"size", std::int64_t{16}}})};
  std::vector<Stage> augment;
  if (c.in_augment) augment = {stage("random_flip", {{"p", 0.5}}), stage("normalize", c.normalize)};
  else preprocess.push_back(stage("normalize", c.normalize));
  LoaderOptions o;
  o.batch_size = 4;
  o.threads = 2;
  o.shuffle = true;
  o.channels = c.channels;
  o.fold_channel_map = fold;
  ImageLoader loader(dataset, dataset->samples(), std::move(preprocess), std::move(augment), o);
  return read_epoch(loader, 1);
}

TEST(LoaderFold, FoldedNormalizeGivesTheStagesOwnValues) {
  const Settings imagenet = {{"preset", std::string("imagenet")}};
  const Settings per_image = {{"preset", std::string("per_image")}};
  const Settings one_value = {{"preset", std::string("custom")},
                              {"mean", std::vector<double>{0.3}},
                              {"std", std::vector<double>{0.2}}};
  const std::vector<FoldCase> cases = {
      {"imagenet, augment, colour -> 3", imagenet, true, false, 3},
      {"imagenet, preprocess, colour -> 3", imagenet, false, false, 3},
      {"imagenet, augment, gray -> 3", imagenet, true, true, 3},
      {"imagenet, preprocess, colour -> 1", imagenet, false, false, 1},
      {"imagenet, augment, gray -> 1", imagenet, true, true, 1},
      {"per_image, augment, colour -> 3", per_image, true, false, 3},
      {"one value, preprocess, gray -> 3", one_value, false, true, 3},
      {"one value, augment, colour -> 1", one_value, true, false, 1},
  };
  for (const auto& c : cases) {
    TempDir dir;
    auto dataset = folder_of_images(dir, c.gray_files);
    const auto folded = epoch_of(dataset, c, true);
    const auto own = epoch_of(dataset, c, false);
    ASSERT_EQ(folded.size(), own.size()) << c.label;
    ASSERT_FALSE(folded.empty()) << c.label;
    for (std::size_t b = 0; b < folded.size(); ++b) {
      EXPECT_EQ(folded[b].indices, own[b].indices) << c.label;
      ASSERT_EQ(folded[b].images.size(), own[b].images.size()) << c.label;
      std::size_t differing = 0;
      for (std::size_t i = 0; i < own[b].images.size(); ++i) differing += folded[b].images[i] != own[b].images[i];
      EXPECT_EQ(differing, 0u) << c.label << ", batch " << b;
    }
    // Normalized values, not [0, 1] pixels: some fall below zero.
    float lowest = 0;
    for (float v : folded[0].images) lowest = std::min(lowest, v);
    EXPECT_LT(lowest, 0.0f) << c.label;
  }
}

TEST(LoaderFold, DiskCacheKeepsTheEightBitImageBeforeAFoldedNormalize) {
  TempDir dir;
  auto dataset = folder_of_images(dir, true);
  LoaderOptions o;
  o.batch_size = 3;
  o.threads = 1;
  o.cache = "disk";
  o.cache_dir = dir.file("cache");
  auto largest_entry = [&] {
    std::uintmax_t largest = 0;
    for (const auto& entry : fs::recursive_directory_iterator(o.cache_dir)) {
      if (entry.is_regular_file()) largest = std::max(largest, entry.file_size());
    }
    return largest;
  };
  std::vector<Stage> preprocess = {stage("resize", {{"size", std::int64_t{16}}}),
                                   stage("normalize", {{"preset", std::string("imagenet")}})};
  {
    ImageLoader loader(dataset, dataset->samples(), preprocess, {}, o);
    read_epoch(loader, 0);
  }
  // 16x16 one-byte pixels and a header; as floats the pixels alone take 1,024 bytes.
  EXPECT_LT(largest_entry(), 16u * 16u * 4u);
  fs::remove_all(o.cache_dir);
  o.fold_channel_map = false;
  {
    ImageLoader loader(dataset, dataset->samples(), preprocess, {}, o);
    read_epoch(loader, 0);
  }
  EXPECT_GE(largest_entry(), 16u * 16u * 3u * 4u);  // the replicated colour floats
}

TEST(LoaderFold, ANormalizeBeforeOtherStagesRunsWhereItIs) {
  // normalize, then a brightness change on its floats: folding it would
  // reorder them, so the loader must not.
  TempDir dir;
  auto dataset = folder_of_images(dir, false);
  auto epoch = [&](bool fold) {
    LoaderOptions o;
    o.batch_size = 6;
    o.threads = 1;
    o.fold_channel_map = fold;
    ImageLoader loader(dataset, dataset->samples(),
                       {stage("resize", {{"size", std::int64_t{16}}}), stage("normalize", {{"preset", std::string("imagenet")}})},
                       {stage("random_brightness_contrast", {{"p", 1.0}, {"brightness", 0.5}, {"contrast", 0.0}})}, o);
    return read_epoch(loader, 0);
  };
  const auto a = epoch(true), b = epoch(false);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].images, b[0].images);
}

}  // namespace
}  // namespace cerebra::testing
