// split_samples and the manifest, on the synthetic dataset and on folders
// with byte-identical files written by the test.
#include <map>
#include <set>

#include "data_test_support.h"

namespace cerebra::testing {
namespace {

Parameters fractions(double train, double val, double test) {
  return params({{"train", train}, {"val", val}, {"test", test}, {"folds", std::int64_t{0}},
                 {"fold", std::int64_t{0}}});
}

TEST(Split, SameSeedSameSplitStratifiedByClass) {
  auto dataset = make_dataset("synthetic", {{"classes", std::int64_t{4}}, {"count", std::int64_t{400}}});
  auto samples = dataset->samples();
  SplitResult a = split_samples(*dataset, samples, fractions(0.7, 0.15, 0.15), 42);
  // Input order must not matter: only the ids do.
  std::vector<Sample> reversed(samples.rbegin(), samples.rend());
  SplitResult b = split_samples(*dataset, reversed, fractions(0.7, 0.15, 0.15), 42);
  SplitResult c = split_samples(*dataset, samples, fractions(0.7, 0.15, 0.15), 43);
  EXPECT_EQ(ids(a.train), ids(b.train));
  EXPECT_EQ(ids(a.val), ids(b.val));
  EXPECT_EQ(ids(a.test), ids(b.test));
  EXPECT_NE(ids(a.val), ids(c.val));
  EXPECT_EQ(a.train.size() + a.val.size() + a.test.size(), 400u);
  // 100 per class: 70 / 15 / 15 each.
  for (auto [label, count] : per_class(a.train)) EXPECT_EQ(count, 70) << label;
  for (auto [label, count] : per_class(a.val)) EXPECT_EQ(count, 15) << label;
  for (auto [label, count] : per_class(a.test)) EXPECT_EQ(count, 15) << label;
  EXPECT_EQ(a.duplicate_groups, 0u);
  std::set<std::string> all;
  for (const auto* list : {&a.train, &a.val, &a.test})
    for (const auto& s : *list) EXPECT_TRUE(all.insert(s.id).second) << s.id << " is in two splits";
}

TEST(Split, KnownSplitIsTheSameOnEveryMachine) {
  // Pinned: the PRNG and ordering are our own, so this list must never change
  // with the compiler, the standard library or the thread count.
  auto dataset = make_dataset("synthetic", {{"count", std::int64_t{20}}});
  SplitResult split = split_samples(*dataset, dataset->samples(), fractions(0.6, 0.2, 0.2), 7);
  std::vector<std::string> test = ids(split.test);
  ASSERT_EQ(test.size(), 4u);
  EXPECT_EQ(test, (std::vector<std::string>{"synthetic:1:10", "synthetic:1:11", "synthetic:1:16", "synthetic:1:9"}));
}

// 12 distinct 8x8 images in each of the folders a/ and b/.
void write_distinct_images(const TempDir& dir) {
  for (const char* label : {"a", "b"}) {
    for (int i = 0; i < 12; ++i) {
      cv::Mat image(8, 8, CV_8UC1, cv::Scalar(i * 10 + (label[0] == 'b' ? 5 : 0)));
      write_image(dir.file(std::string(label) + "/img" + std::to_string(i) + ".png"), image);
    }
  }
}

TEST(Split, IdenticalFilesShareASplitAndAreCounted) {
  TempDir dir;
  // 12 distinct images per class, plus three groups of identical bytes:
  // two inside class a, three across classes a and b (a labelling conflict).
  write_distinct_images(dir);
  auto twin = encode(".png", cv::Mat(8, 8, CV_8UC1, cv::Scalar(250)));
  write_bytes(dir.file("a/twin 1.png"), twin);
  write_bytes(dir.file("a/twin 2.png"), twin);
  auto triple = encode(".png", cv::Mat(8, 8, CV_8UC1, cv::Scalar(251)));
  write_bytes(dir.file("a/triple.png"), triple);
  write_bytes(dir.file("b/triple (copy).png"), triple);
  write_bytes(dir.file("b/triple (copy 2).png"), triple);
  auto dataset = make_dataset("image_folder", {{"root", dir.path().string()}});
  auto samples = dataset->samples();
  ASSERT_EQ(samples.size(), 29u);
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    SplitResult split = split_samples(*dataset, samples, fractions(0.5, 0.25, 0.25), seed);
    EXPECT_EQ(split.duplicate_groups, 2u);
    EXPECT_EQ(split.duplicate_files, 5u);
    EXPECT_EQ(split.conflicting_groups, 1u);
    std::map<std::string, std::string> where;
    for (const auto& [name, list] : {std::pair{"train", &split.train}, {"val", &split.val}, {"test", &split.test}})
      for (const auto& s : *list) where[std::filesystem::path(s.id).filename().string()] = name;
    EXPECT_EQ(where["twin 1.png"], where["twin 2.png"]) << seed;
    EXPECT_EQ(where["triple.png"], where["triple (copy).png"]) << seed;
    EXPECT_EQ(where["triple.png"], where["triple (copy 2).png"]) << seed;
  }
}

TEST(Split, FixedTestSubsetAndDuplicatesOfItGoToTest) {
  TempDir dir;
  const std::vector<std::string> classes = {"glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"};
  for (std::size_t c = 0; c < classes.size(); ++c) {
    for (int i = 0; i < 10; ++i) {
      write_image(dir.file("4c/Training/" + classes[c] + "/" + std::to_string(i) + ".png"),
                  cv::Mat(6, 6, CV_8UC1, cv::Scalar(static_cast<double>(c * 20 + i))));
    }
    write_image(dir.file("4c/Testing/" + classes[c] + "/t.png"),
                cv::Mat(6, 6, CV_8UC1, cv::Scalar(static_cast<double>(200 + c))));
  }
  // A Testing image repeated in Training, as in the public four-class release.
  std::filesystem::copy_file(dir.file("4c/Testing/no_tumor/t.png"), dir.file("4c/Training/no_tumor/leak.png"));
  auto dataset = make_dataset("brain_tumor_4class", {{"root", dir.file("4c")}});
  SplitResult split = split_samples(*dataset, dataset->samples(), fractions(0.8, 0.1, 0.1), 3);
  auto test_ids = ids(split.test);
  std::set<std::string> test(test_ids.begin(), test_ids.end());
  EXPECT_EQ(test.size(), 5u);  // 4 from Testing/ + the leaked copy, nothing topped up
  EXPECT_TRUE(test.count(dir.file("4c/Training/no_tumor/leak.png")));
  EXPECT_EQ(split.train.size() + split.val.size(), 40u);
  // Fractions 0.8 / 0.1 of the rest become 8 : 1 of each class's 10.
  for (auto [label, count] : per_class(split.val)) EXPECT_EQ(count, 1) << label;
}

TEST(Split, KFoldsCoverEveryNonTestSampleOnceAsValidation) {
  auto dataset = make_dataset("synthetic", {{"count", std::int64_t{50}}});
  auto samples = dataset->samples();
  std::map<std::string, int> times_in_val;
  for (std::int64_t fold = 0; fold < 5; ++fold) {
    SplitResult split = split_samples(
        *dataset, samples, params({{"folds", std::int64_t{5}}, {"fold", fold}, {"train", 0.7}, {"val", 0.15}, {"test", 0.15}}), 9);
    EXPECT_TRUE(split.test.empty());
    EXPECT_EQ(split.val.size(), 10u);
    EXPECT_EQ(split.train.size(), 40u);
    for (auto [label, count] : per_class(split.val)) EXPECT_EQ(count, 5) << label;
    for (const auto& s : split.val) ++times_in_val[s.id];
  }
  EXPECT_EQ(times_in_val.size(), 50u);
  for (auto [id, times] : times_in_val) EXPECT_EQ(times, 1) << id;
}

// cerebra kfold's folds: each fold is the test set once, so the test sets
// partition the data; duplicates stay in one split; val comes from the other folds.
TEST(Split, KFoldTestFoldsPartitionTheDataAndKeepDuplicatesTogether) {
  TempDir dir;
  write_distinct_images(dir);
  auto twin = encode(".png", cv::Mat(8, 8, CV_8UC1, cv::Scalar(250)));
  write_bytes(dir.file("a/twin 1.png"), twin);
  write_bytes(dir.file("a/twin 2.png"), twin);
  write_bytes(dir.file("a/twin 3.png"), twin);
  auto dataset = make_dataset("image_folder", {{"root", dir.path().string()}});
  auto samples = dataset->samples();
  ASSERT_EQ(samples.size(), 27u);
  std::map<std::string, int> times_tested;
  for (std::int64_t fold = 0; fold < 4; ++fold) {
    SplitResult split = split_samples(*dataset, samples,
                                      params({{"folds", std::int64_t{4}}, {"fold", fold}, {"fold_split", std::string("test")},
                                              {"val", 0.25}, {"group_by", std::string("exact")}}),
                                      11);
    EXPECT_FALSE(split.val.empty());
    EXPECT_EQ(split.train.size() + split.val.size() + split.test.size(), 27u);
    std::map<std::string, std::string> where;
    for (const auto& [name, list] : {std::pair{"train", &split.train}, {"val", &split.val}, {"test", &split.test}})
      for (const auto& s : *list) where[std::filesystem::path(s.id).filename().string()] = name;
    EXPECT_EQ(where["twin 1.png"], where["twin 2.png"]) << fold;
    EXPECT_EQ(where["twin 1.png"], where["twin 3.png"]) << fold;
    // Both classes in every test fold (stratified), about a quarter of each.
    for (auto [label, count] : per_class(split.test)) EXPECT_GE(count, 2) << label << " fold " << fold;
    EXPECT_EQ(per_class(split.test).size(), 2u);
    for (const auto& s : split.test) ++times_tested[s.id];
  }
  EXPECT_EQ(times_tested.size(), 27u);
  for (auto [id, times] : times_tested) EXPECT_EQ(times, 1) << id;
  EXPECT_THROW(split_samples(*dataset, samples, params({{"folds", std::int64_t{4}}, {"fold_split", std::string("train")}}), 1),
               Error);
}

TEST(Split, InvalidSettingsAreErrors) {
  auto dataset = make_dataset("synthetic", {{"count", std::int64_t{10}}});
  auto samples = dataset->samples();
  EXPECT_THROW(split_samples(*dataset, samples, fractions(0.5, 0.2, 0.2), 1), Error);
  EXPECT_THROW(split_samples(*dataset, samples, params({{"folds", std::int64_t{1}}}), 1), Error);
  EXPECT_THROW(split_samples(*dataset, samples, params({{"folds", std::int64_t{3}}, {"fold", std::int64_t{3}}}), 1),
               Error);
  std::vector<Sample> unlabelled = {{"synthetic:1:0", -1, ""}};
  EXPECT_THROW(split_samples(*dataset, unlabelled, fractions(0.7, 0.15, 0.15), 1), Error);
}

TEST(SplitManifest, QuotesWhatCsvNeedsQuoted) {
  TempDir dir;
  SplitResult split;
  split.train = {{"/data/a/plain.png", 0, ""}, {"/data/a/with,comma \"q\".png", 1, ""}};
  split.val = {{"/data/b/scan (1).png", 1, ""}};
  split.test = {{"/data/c/ü.png", 0, ""}};
  std::string path = dir.file("run/split.csv");
  write_split_manifest(path, split, {"no", "yes"});
  auto bytes = read_bytes(path);
  std::string text(bytes.begin(), bytes.end());
  EXPECT_EQ(text,
            "file,class,split,group\n"
            "/data/a/plain.png,no,train,\n"
            "\"/data/a/with,comma \"\"q\"\".png\",yes,train,\n"
            "/data/b/scan (1).png,yes,val,\n"
            "/data/c/ü.png,no,test,\n");
  for (const auto& entry : std::filesystem::directory_iterator(dir.file("run"))) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
}

}  // namespace
}  // namespace cerebra::testing
