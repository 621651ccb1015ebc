// ImageLoader on real plugins: batch layout, determinism across threads and
// prefetch, the sampler, caches, and bad or mismatched files.
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>

#include <opencv2/imgproc.hpp>

#include "data_test_support.h"

namespace cerebra::testing {
namespace {

namespace fs = std::filesystem;

bool same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].images != b[i].images || a[i].labels != b[i].labels || a[i].indices != b[i].indices ||
        a[i].n != b[i].n || a[i].height != b[i].height || a[i].width != b[i].width)
      return false;
  }
  return true;
}

LoaderOptions options(std::size_t batch_size, int threads) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.threads = threads;
  return o;
}

TEST(Loader, BatchesAreNchwRgbFloat) {
  TempDir dir;
  // RGB (255, 128, 0) stored as BGR by OpenCV, and a gray image.
  write_image(dir.file("a/colour.png"), cv::Mat(3, 2, CV_8UC3, cv::Scalar(0, 128, 255)));
  write_image(dir.file("b/gray.png"), cv::Mat(3, 2, CV_8UC1, cv::Scalar(51)));
  auto dataset = make_dataset("image_folder", {{"root", dir.path().string()}});
  ImageLoader loader(dataset, dataset->samples(), std::vector<Stage>{}, std::vector<Stage>{}, options(8, 1));
  EXPECT_EQ(loader.size(), 2u);
  EXPECT_EQ(loader.batches_per_epoch(), 1u);
  auto batches = read_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  const Batch& batch = batches[0];
  EXPECT_EQ(batch.n, 2);
  EXPECT_EQ(batch.channels, 3);
  EXPECT_EQ(batch.height, 3);
  EXPECT_EQ(batch.width, 2);
  ASSERT_EQ(batch.images.size(), 2u * 3 * 3 * 2);
  EXPECT_EQ(batch.labels, (std::vector<std::int64_t>{0, 1}));
  const std::size_t plane = 6;
  EXPECT_FLOAT_EQ(batch.images[0 * plane], 1.0f);             // R
  EXPECT_FLOAT_EQ(batch.images[1 * plane], 128 / 255.0f);     // G
  EXPECT_FLOAT_EQ(batch.images[2 * plane], 0.0f);             // B
  for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(batch.images[(3 + c) * plane], 0.2f);  // gray replicated

  // Float images from normalize are taken as they are, still turned to RGB.
  ImageLoader normalized(dataset, dataset->samples(), {stage("normalize", {{"preset", std::string("imagenet")}})},
                         {}, options(8, 1));
  auto n = read_epoch(normalized, 0);
  EXPECT_NEAR(n[0].images[0], (1.0 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(n[0].images[2 * plane], (0.0 - 0.406) / 0.225, 1e-5);

  LoaderOptions one_channel = options(8, 1);
  one_channel.channels = 1;
  ImageLoader gray(dataset, dataset->samples(), std::vector<Stage>{}, std::vector<Stage>{}, one_channel);
  auto g = read_epoch(gray, 0);
  EXPECT_EQ(g[0].channels, 1);
  EXPECT_NEAR(g[0].images[0], (0.299 * 255 + 0.587 * 128) / 255.0, 1e-3);
}

// A 512x384 picture with detail at every scale, so a reduced decode is
// visibly a different (smaller) image, yet resizes to nearly the same one.
cv::Mat test_picture() {
  cv::Mat image(384, 512, CV_8UC3);
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<unsigned char>(x / 2), static_cast<unsigned char>(y / 2),
                                            static_cast<unsigned char>((x * y / 64 + (x / 8 + y / 8) % 2 * 40) % 256));
    }
  }
  return image;
}

TEST(ReadImage, LargeJpegsDecodeAtTheSmallestScaleTheHintAllows) {
  TempDir dir;
  cv::Mat colour = test_picture(), gray;
  cv::cvtColor(colour, gray, cv::COLOR_BGR2GRAY);
  write_image(dir.file("colour.jpg"), colour, {cv::IMWRITE_JPEG_QUALITY, 95});
  write_image(dir.file("gray.jpg"), gray, {cv::IMWRITE_JPEG_QUALITY, 95});
  write_image(dir.file("colour.png"), colour);
  write_image(dir.file("progressive.jpg"), colour, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  auto size_of = [](const cv::Mat& m) { return std::make_tuple(m.cols, m.rows, m.channels()); };

  EXPECT_EQ(size_of(read_image(dir.file("colour.jpg"))), std::make_tuple(512, 384, 3));
  EXPECT_EQ(size_of(read_image(dir.file("colour.jpg"), {100, 100})), std::make_tuple(256, 192, 3));
  EXPECT_EQ(size_of(read_image(dir.file("colour.jpg"), {64, 64})), std::make_tuple(128, 96, 3));
  EXPECT_EQ(size_of(read_image(dir.file("colour.jpg"), {32, 32})), std::make_tuple(64, 48, 3));
  EXPECT_EQ(size_of(read_image(dir.file("colour.jpg"), {8, 8})), std::make_tuple(64, 48, 3));  // 1/8 at most
  EXPECT_EQ(size_of(read_image(dir.file("colour.jpg"), {300, 100})), std::make_tuple(512, 384, 3));
  EXPECT_EQ(size_of(read_image(dir.file("gray.jpg"), {64, 64})), std::make_tuple(128, 96, 1));
  EXPECT_EQ(size_of(read_image(dir.file("colour.png"), {64, 64})), std::make_tuple(512, 384, 3));
  EXPECT_EQ(size_of(read_image(dir.file("progressive.jpg"), {64, 64})), std::make_tuple(128, 96, 3));

  // What a resize then makes of it is nearly the same picture.
  cv::Mat full, reduced;
  cv::resize(read_image(dir.file("colour.jpg")), full, cv::Size(64, 64), 0, 0, cv::INTER_AREA);
  cv::resize(read_image(dir.file("colour.jpg"), {64, 64}), reduced, cv::Size(64, 64), 0, 0, cv::INTER_AREA);
  cv::Mat difference;
  cv::absdiff(full, reduced, difference);
  EXPECT_LT(cv::mean(difference)[0], 4.0);  // out of 255
}

// Passes loads on to a real dataset and records the hints it was given.
class RecordingDataset : public Dataset {
 public:
  explicit RecordingDataset(std::shared_ptr<Dataset> inner) : inner_(std::move(inner)) {}
  std::vector<std::string> class_names() const override { return inner_->class_names(); }
  std::vector<Sample> samples() const override { return inner_->samples(); }
  using Dataset::load;
  cv::Mat load(const Sample& sample, const LoadHint& hint) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    hints_.push_back(hint);
    return inner_->load(sample, hint);
  }
  std::vector<LoadHint> hints() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hints_;
  }

 private:
  std::shared_ptr<Dataset> inner_;
  mutable std::mutex mutex_;
  mutable std::vector<LoadHint> hints_;
};

TEST(Loader, AskForReducedDecodesOnlyWhenAResizeComesFirst) {
  TempDir dir;
  write_image(dir.file("a/one.jpg"), test_picture(), {cv::IMWRITE_JPEG_QUALITY, 95});
  write_image(dir.file("b/two.jpg"), test_picture(), {cv::IMWRITE_JPEG_QUALITY, 95});
  auto folder = make_dataset("image_folder", {{"root", dir.path().string()}});
  auto hints_for = [&](std::vector<Stage> preprocess, bool reduced_decode, std::vector<Batch>* out = nullptr) {
    auto dataset = std::make_shared<RecordingDataset>(folder);
    LoaderOptions o = options(2, 1);
    o.reduced_decode = reduced_decode;
    ImageLoader loader(dataset, dataset->samples(), std::move(preprocess), std::vector<Stage>{}, o);
    auto batches = read_epoch(loader, 0);
    if (out) *out = batches;
    auto hints = dataset->hints();
    EXPECT_EQ(hints.size(), 2u);
    return hints.empty() ? LoadHint{} : hints[0];
  };
  std::vector<Batch> reduced, full;
  auto hint = hints_for({stage("resize", {{"width", std::int64_t{48}}, {"height", std::int64_t{40}}})}, true, &reduced);
  EXPECT_EQ(hint.min_width, 48);
  EXPECT_EQ(hint.min_height, 40);
  hint = hints_for({stage("resize", {{"width", std::int64_t{48}}, {"height", std::int64_t{40}}})}, false, &full);
  EXPECT_EQ(hint.min_width, 0);
  EXPECT_EQ(hints_for({stage("crop_brain"), stage("resize", {{"size", std::int64_t{48}}})}, true).min_width, 0);
  EXPECT_EQ(hints_for({stage("normalize")}, true).min_width, 0);

  // Same batch shape either way, and nearly the same pixels.
  ASSERT_EQ(reduced.size(), 1u);
  ASSERT_EQ(full.size(), 1u);
  ASSERT_EQ(reduced[0].images.size(), full[0].images.size());
  double total = 0;
  bool identical = true;
  for (std::size_t i = 0; i < full[0].images.size(); ++i) {
    total += std::abs(reduced[0].images[i] - full[0].images[i]);
    identical = identical && reduced[0].images[i] == full[0].images[i];
  }
  EXPECT_LT(total / static_cast<double>(full[0].images.size()), 4.0 / 255.0);
  EXPECT_FALSE(identical) << "the reduced decode was not used";
}

TEST(Loader, SameBatchesWithOneAndFourThreadsAndAnyPrefetch) {
  auto dataset = make_dataset("synthetic", {{"count", std::int64_t{37}}, {"image_size", std::int64_t{48}}});
  auto make = [&](int threads, int prefetch) {
    LoaderOptions o = options(8, threads);
    o.shuffle = true;
    o.prefetch = prefetch;
    o.seed = 5;
    return std::make_unique<ImageLoader>(
        dataset, dataset->samples(), std::vector<Stage>{stage("resize", {{"size", std::int64_t{32}}})},
        std::vector<Stage>{stage("random_flip"), stage("random_rotate", {{"degrees", 20.0}}),
                           stage("gaussian_noise", {{"p", 1.0}})},
        o);
  };
  auto one = make(1, 0);
  auto four = make(4, 3);
  EXPECT_EQ(one->threads(), 1);
  EXPECT_EQ(four->threads(), 4);
  for (int epoch = 0; epoch < 2; ++epoch) {
    auto a = read_epoch(*one, epoch);
    auto b = read_epoch(*four, epoch);
    ASSERT_EQ(a.size(), 5u);  // 37 images in batches of 8
    EXPECT_EQ(a.back().n, 5);
    EXPECT_TRUE(same_batches(a, b)) << "epoch " << epoch;
  }
  // A fresh loader repeats epoch 1 exactly; epochs differ from each other.
  auto again = make(2, 1);
  auto e1 = read_epoch(*again, 1);
  auto e1_one = read_epoch(*one, 1);
  EXPECT_TRUE(same_batches(e1, e1_one));
  auto e0 = read_epoch(*again, 0);
  EXPECT_NE(e0[0].indices, e1[0].indices);
  // Every sample once per epoch without the sampler.
  std::map<std::size_t, int> seen;
  for (const auto& batch : e1)
    for (auto index : batch.indices) ++seen[index];
  EXPECT_EQ(seen.size(), 37u);
}

TEST(Loader, DropLastAndUnshuffledOrder) {
  auto dataset = make_dataset("synthetic", {{"count", std::int64_t{10}}, {"image_size", std::int64_t{32}}});
  LoaderOptions o = options(4, 2);
  o.drop_last = true;
  ImageLoader loader(dataset, dataset->samples(), std::vector<Stage>{}, std::vector<Stage>{}, o);
  EXPECT_EQ(loader.batches_per_epoch(), 2u);
  auto batches = read_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].indices, (std::vector<std::size_t>{0, 1, 2, 3}));
  EXPECT_EQ(batches[1].indices, (std::vector<std::size_t>{4, 5, 6, 7}));
}

TEST(Loader, WeightedSamplerBalancesClasses) {
  auto dataset = make_dataset("synthetic", {{"count", std::int64_t{200}}, {"image_size", std::int64_t{32}}});
  // Keep every negative but only a quarter of the positives: 100 vs 25.
  std::vector<Sample> imbalanced;
  int positives = 0;
  for (const auto& sample : dataset->samples()) {
    if (sample.label == 1 && positives++ % 4 != 0) continue;
    imbalanced.push_back(sample);
  }
  ASSERT_EQ(imbalanced.size(), 125u);
  LoaderOptions o = options(25, 2);
  o.weighted_sampler = true;
  ImageLoader loader(dataset, imbalanced, std::vector<Stage>{}, std::vector<Stage>{}, o);
  std::map<std::int64_t, int> drawn;
  std::size_t total = 0;
  for (int epoch = 0; epoch < 8; ++epoch) {
    std::size_t in_epoch = 0;
    for (const auto& batch : read_epoch(loader, epoch)) {
      for (auto label : batch.labels) ++drawn[label];
      in_epoch += static_cast<std::size_t>(batch.n);
    }
    EXPECT_EQ(in_epoch, 125u);  // same epoch length
    total += in_epoch;
  }
  EXPECT_NEAR(drawn[1] / static_cast<double>(total), 0.5, 0.05);
}

class BadFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    cv::Mat image(16, 16, CV_8UC3, cv::Scalar(40, 80, 120));
    for (int i = 0; i < 6; ++i) write_image(dir.file("a/good" + std::to_string(i) + ".png"), image);
    write_bytes(dir.file("a/empty.png"), {});
    auto jpeg = encode(".jpg", image);
    write_bytes(dir.file("a/cut.jpg"), {jpeg.begin(), jpeg.begin() + jpeg.size() - 40});
    write_text(dir.file("a/words.png"), "hello");
    dataset = make_dataset("image_folder", {{"root", dir.path().string()}});
  }
  TempDir dir;
  std::shared_ptr<Dataset> dataset;
};

TEST_F(BadFiles, StopNamesTheFileAndReason) {
  LoaderOptions o = options(4, 2);
  ImageLoader loader(dataset, dataset->samples(), std::vector<Stage>{}, std::vector<Stage>{}, o);
  loader.start_epoch(0);
  Batch batch;
  try {
    while (loader.next(batch)) {
    }
    FAIL() << "a bad file did not stop the loader";
  } catch (const Error& error) {
    std::string message = error.what();
    // Files are sorted, so cut.jpg comes first.
    EXPECT_NE(message.find(dir.file("a/cut.jpg")), std::string::npos) << message;
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  }
}

TEST_F(BadFiles, SkipListsEveryBadFileAndKeepsTheRest) {
  LoaderOptions o = options(4, 3);
  o.skip_bad_files = true;
  o.shuffle = true;
  ImageLoader loader(dataset, dataset->samples(), std::vector<Stage>{}, std::vector<Stage>{}, o);
  for (int epoch = 0; epoch < 2; ++epoch) {
    auto batches = read_epoch(loader, epoch);
    std::size_t images = 0;
    for (const auto& batch : batches) images += static_cast<std::size_t>(batch.n);
    EXPECT_EQ(images, 6u);
    // Replacements keep batches full: 4 + 2.
    ASSERT_EQ(batches.size(), 2u);
    EXPECT_EQ(batches[0].n, 4);
  }
  auto skipped = loader.skipped();
  ASSERT_EQ(skipped.size(), 3u);  // each once, however many epochs
  std::map<std::string, std::string> reasons;
  for (const auto& s : skipped) reasons[fs::path(s.id).filename().string()] = s.reason;
  EXPECT_NE(reasons["empty.png"].find("empty file"), std::string::npos);
  EXPECT_NE(reasons["cut.jpg"].find("truncated"), std::string::npos);
  EXPECT_NE(reasons["words.png"].find("not a readable image"), std::string::npos);
}

TEST_F(BadFiles, CheckAllFindsEveryBadFileBeforeAnyBatch) {
  LoaderOptions o = options(4, 2);
  ImageLoader stopping(dataset, dataset->samples(), std::vector<Stage>{}, std::vector<Stage>{}, o);
  const std::string message = error_message_of([&] { stopping.check_all(); });
  EXPECT_NE(message.find(dir.file("a/cut.jpg") + ": "), std::string::npos) << message;  // first in order
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;

  o.skip_bad_files = true;
  ImageLoader skipping(dataset, dataset->samples(), std::vector<Stage>{}, std::vector<Stage>{}, o);
  EXPECT_EQ(skipping.check_all(), 6u);
  EXPECT_EQ(skipping.skipped().size(), 3u);  // known before the first epoch
  std::size_t images = 0;
  for (const auto& batch : read_epoch(skipping, 0)) images += static_cast<std::size_t>(batch.n);
  EXPECT_EQ(images, 6u);
  EXPECT_EQ(skipping.skipped().size(), 3u);  // each once
}

TEST(Loader, DifferentSizesWithoutResizeAreAClearError) {
  TempDir dir;
  write_image(dir.file("a/small.png"), cv::Mat(10, 10, CV_8UC1, cv::Scalar(1)));
  write_image(dir.file("a/large.png"), cv::Mat(20, 30, CV_8UC1, cv::Scalar(1)));
  auto dataset = make_dataset("image_folder", {{"root", dir.path().string()}});
  ImageLoader loader(dataset, dataset->samples(), std::vector<Stage>{}, std::vector<Stage>{}, options(2, 1));
  loader.start_epoch(0);
  Batch batch;
  try {
    loader.next(batch);
    FAIL() << "mixed sizes were batched";
  } catch (const Error& error) {
    std::string message = error.what();
    EXPECT_NE(message.find(dir.file("a/small.png")), std::string::npos) << message;
    EXPECT_NE(message.find("resize"), std::string::npos) << message;
  }
  ImageLoader resized(dataset, dataset->samples(), {stage("resize", {{"size", std::int64_t{12}}})}, {},
                      options(2, 1));
  EXPECT_EQ(read_epoch(resized, 0)[0].width, 12);
}

TEST(Loader, DiskCacheIsReadBackAndKeyedByStages) {
  TempDir dir;
  cv::Mat image(20, 20, CV_8UC1);
  cv::randu(image, 0, 255);
  write_image(dir.file("img/a/x.png"), image);
  write_image(dir.file("img/a/twin.png"), image);  // same bytes: one cache entry
  write_image(dir.file("img/b/y.png"), cv::Mat(20, 20, CV_8UC1, cv::Scalar(9)));
  auto dataset = make_dataset("image_folder", {{"root", dir.file("img")}});
  LoaderOptions o = options(4, 2);
  o.cache = "disk";
  o.cache_dir = dir.file("cache");
  auto count_entries = [&] {
    std::size_t files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(o.cache_dir)) {
      EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos);
      files += entry.is_regular_file();
    }
    return files;
  };
  {
    ImageLoader loader(dataset, dataset->samples(), {stage("resize", {{"size", std::int64_t{8}}})}, {}, o);
    read_epoch(loader, 0);
  }
  EXPECT_EQ(count_entries(), 2u);

  // Overwrite the pixels of every entry: a new loader must serve them,
  // proving it reads the disk instead of decoding again.
  for (const auto& entry : fs::recursive_directory_iterator(o.cache_dir)) {
    if (!entry.is_regular_file()) continue;
    auto bytes = read_bytes(entry.path().string());
    std::fill(bytes.end() - 64, bytes.end(), 255);  // 8x8 gray pixels are the last 64 bytes
    write_bytes(entry.path().string(), bytes);
  }
  {
    ImageLoader loader(dataset, dataset->samples(), {stage("resize", {{"size", std::int64_t{8}}})}, {}, o);
    auto batches = read_epoch(loader, 0);
    for (float value : batches[0].images) EXPECT_FLOAT_EQ(value, 1.0f);
  }
  // A changed parameter is a different key: no stale image, new entries.
  {
    ImageLoader loader(dataset, dataset->samples(), {stage("resize", {{"size", std::int64_t{6}}})}, {}, o);
    auto batches = read_epoch(loader, 0);
    EXPECT_EQ(batches[0].width, 6);
    EXPECT_LT(batches[0].images[0], 1.0f + 1e-6f);
  }
  EXPECT_EQ(count_entries(), 4u);
  // Bare transforms cannot key a disk cache.
  EXPECT_THROW(ImageLoader(dataset, dataset->samples(),
                           std::vector<std::shared_ptr<const Transform>>{make_transform("resize")}, {}, o),
               Error);
}

TEST(Loader, MisplacedStagesAndSettingsAreErrors) {
  auto dataset = make_dataset("synthetic", {{"count", std::int64_t{4}}, {"image_size", std::int64_t{32}}});
  EXPECT_THROW(ImageLoader(dataset, dataset->samples(), {stage("random_flip")}, {}, options(2, 1)), Error);
  LoaderOptions bad = options(0, 1);
  EXPECT_THROW(ImageLoader(dataset, dataset->samples(), std::vector<Stage>{}, std::vector<Stage>{}, bad), Error);
  LoaderOptions automatic = options(2, 0);
  ImageLoader loader(dataset, dataset->samples(), std::vector<Stage>{}, std::vector<Stage>{}, automatic);
  EXPECT_EQ(loader.threads(), default_loader_threads());
  EXPECT_GE(loader.threads(), 1);
}

}  // namespace
}  // namespace cerebra::testing
