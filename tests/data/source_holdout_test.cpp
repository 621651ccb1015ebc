// Source-held-out splits ([split] hold_out = "source"): each class's test and
// val images come from source clusters its training images do not contain.
// Three "sources" differ in size and brightness; every image is drawn here.
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data_test_support.h"
#include "run_support.h"
#include "scan_images.h"

namespace cerebra::testing {
namespace {

using Files = std::vector<std::tuple<std::string, std::string, cv::Mat>>;

// Source 1: 64x64 and dark; 2: 96x80 and bright; 3: 80x80, in between (so
// that source 2 lies farther from 1 than 3 does, and 1 farther from 2).
cv::Mat source_image(int source, unsigned seed) {
  cv::Mat out;
  if (source == 1) scan(seed, 64).convertTo(out, -1, 0.5, 0);
  if (source == 2) cv::resize(brighter(scan(seed, 96), 70), out, cv::Size(96, 80), 0, 0, cv::INTER_AREA);
  if (source == 3) scan(seed, 80).convertTo(out, -1, 0.8, 25);
  return out;
}

// `count` images of `source` under class `label`, named "<label>/s<source>_<n>.png".
void add(Files& files, const std::string& label, int source, int count, unsigned seed) {
  for (int i = 0; i < count; ++i) {
    files.emplace_back(label, fmt::format("s{}_{:02}.png", source, i), source_image(source, seed + i));
  }
}

// Class a mostly from source 1, class b mostly from source 2, as the
// four-class data's classes each mostly come from a collection of their own;
// a few JPEG copies (near duplicates, in their original's source).
Files two_classes_three_sources() {
  Files files;
  add(files, "a", 1, 24, 1000);
  add(files, "a", 2, 7, 1100);
  add(files, "a", 3, 5, 1200);
  add(files, "b", 2, 24, 2000);
  add(files, "b", 1, 7, 2100);
  add(files, "b", 3, 5, 2200);
  for (int i = 0; i < 3; ++i) files.emplace_back("a", fmt::format("s1_{:02}_copy.jpg", i), jpeg(source_image(1, 1000 + i), 60));
  for (int i = 0; i < 2; ++i) files.emplace_back("b", fmt::format("s1_{:02}_copy.jpg", i), jpeg(source_image(1, 2100 + i), 60));
  return files;
}

Parameters held_out(std::int64_t clusters = 0) {
  return params({{"train", 0.7}, {"val", 0.15}, {"test", 0.15}, {"group_by", std::string("near")},
                 {"hold_out", std::string("source")}, {"source_clusters", clusters}});
}

// The source clusters of each class in one split.
std::map<int, std::set<int>> clusters_of(const SplitResult& split, const std::vector<Sample>& samples) {
  std::map<int, std::set<int>> out;
  for (const auto& s : samples) out[s.label].insert(split.source_of.at(s.id));
  return out;
}

TEST(SourceHeldOutSplit, EachClassIsTestedOnSourcesItDoesNotTrainOn) {
  TempDir dir;
  const std::string root = write_folder(dir, "data", two_classes_three_sources());
  auto dataset = make_dataset("image_folder", {{"root", root}});
  const auto samples = dataset->samples();
  const SplitResult split = split_samples(*dataset, samples, held_out(), 3, dir.file("cache"));
  EXPECT_EQ(split.hold_out, "source");
  ASSERT_EQ(split.source_clusters, 3) << "silhouette should find the three sources";
  auto cluster = [&](const std::string& file) { return split.source_of.at(root + "/" + file); };
  const int s1 = cluster("a/s1_00.png"), s2 = cluster("a/s2_00.png"), s3 = cluster("a/s3_00.png");
  ASSERT_EQ(std::set<int>({s1, s2, s3}).size(), 3u);

  const auto train = clusters_of(split, split.train), val = clusters_of(split, split.val),
             test = clusters_of(split, split.test);
  // a trains on source 1 only and is tested on the farthest other source (2,
  // 7 files) rather than the smallest (3, 5 files), which goes to val; b the
  // other way round.
  EXPECT_EQ(train.at(0), std::set<int>({s1}));
  EXPECT_EQ(test.at(0), std::set<int>({s2}));
  EXPECT_EQ(val.at(0), std::set<int>({s3}));
  EXPECT_EQ(train.at(1), std::set<int>({s2}));
  EXPECT_EQ(test.at(1), std::set<int>({s1}));
  EXPECT_EQ(val.at(1), std::set<int>({s3}));

  // Fractions kept roughly: 15% of a's 39 files is 6 (7 held out), of b's 38
  // is 6 (9: the 7 source-1 images and 2 copies); val 5 of a target of 6.
  EXPECT_EQ(per_class(split.test), (std::map<int, int>{{0, 7}, {1, 9}}));
  EXPECT_EQ(per_class(split.val), (std::map<int, int>{{0, 5}, {1, 5}}));
  EXPECT_EQ(split.train.size() + split.val.size() + split.test.size(), samples.size());
  EXPECT_EQ(split.sources_in.at("test").at("a").at(s2), 7u);
  EXPECT_EQ(split.sources_in.at("train").at("a").at(s1), 27u);

  // The five JPEG copies are found and each stays with its original.
  EXPECT_EQ(split.duplicate_groups, 5u);
  std::map<std::size_t, std::set<std::string>> splits_of_group;
  for (const auto& [part, name] : {std::pair{&split.train, "train"}, {&split.val, "val"}, {&split.test, "test"}}) {
    for (const auto& s : *part) splits_of_group[split.group_of.at(s.id)].insert(name);
  }
  for (const auto& [group, splits] : splits_of_group) EXPECT_EQ(splits.size(), 1u) << "group " << group;

  // A random split of the same data tests a on its training source: the
  // property above is the protocol's doing.
  Parameters random = held_out();
  random.set("hold_out", std::string("none"));
  const SplitResult plain = split_samples(*dataset, samples, random, 3, dir.file("cache"));
  EXPECT_EQ(plain.hold_out, "none");
  EXPECT_TRUE(plain.source_of.empty());
  bool a_tested_on_source_1 = false;
  for (const auto& s : plain.test) a_tested_on_source_1 |= s.label == 0 && s.id.find("/a/s1_") != std::string::npos;
  EXPECT_TRUE(a_tested_on_source_1);

  // The line for the run log names the held-out clusters.
  const std::string line = describe_hold_out(split);
  EXPECT_NE(line.find(fmt::format("test: a {} (7); b {} (9)", s2, s1)), std::string::npos) << line;
}

TEST(SourceHeldOutSplit, DeterministicWhateverTheOrderAndCache) {
  TempDir dir;
  const std::string root = write_folder(dir, "data", two_classes_three_sources());
  auto dataset = make_dataset("image_folder", {{"root", root}});
  const auto samples = dataset->samples();
  const SplitResult cold = split_samples(*dataset, samples, held_out(3), 11, dir.file("cache"));
  const std::vector<Sample> reversed(samples.rbegin(), samples.rend());
  const SplitResult warm = split_samples(*dataset, reversed, held_out(3), 11, dir.file("cache"));
  const SplitResult uncached = split_samples(*dataset, samples, held_out(3), 11, "");
  for (const SplitResult* other : {&warm, &uncached}) {
    EXPECT_EQ(ids(cold.train), ids(other->train));
    EXPECT_EQ(ids(cold.val), ids(other->val));
    EXPECT_EQ(ids(cold.test), ids(other->test));
    EXPECT_EQ(cold.source_of, other->source_of);
  }
  EXPECT_TRUE(std::filesystem::exists(dir.file("cache"))) << "traits are cached like group_by's";
}

TEST(SourceHeldOutSplit, ValIsToppedUpFromTrainingWhenNoClusterIsLeft) {
  // Two sources: each class's second source goes to test, nothing is left
  // for val, which then comes from the training source (seeded).
  TempDir dir;
  Files files;
  add(files, "a", 1, 30, 3000);
  add(files, "a", 2, 6, 3100);
  add(files, "b", 2, 30, 3200);
  add(files, "b", 1, 6, 3300);
  auto dataset = make_dataset("image_folder", {{"root", write_folder(dir, "data", files)}});
  const SplitResult split = split_samples(*dataset, dataset->samples(), held_out(2), 5, dir.file("cache"));
  const auto train = clusters_of(split, split.train), test = clusters_of(split, split.test);
  for (int label : {0, 1}) {
    ASSERT_EQ(test.at(label).size(), 1u);
    EXPECT_FALSE(train.at(label).count(*test.at(label).begin())) << "class " << label;
  }
  EXPECT_EQ(per_class(split.test), (std::map<int, int>{{0, 6}, {1, 6}}));
  EXPECT_EQ(per_class(split.val), (std::map<int, int>{{0, 5}, {1, 5}}));  // 15% of 36, from training's source
  EXPECT_EQ(clusters_of(split, split.val), train);
  const SplitResult other_seed = split_samples(*dataset, dataset->samples(), held_out(2), 6, dir.file("cache"));
  EXPECT_EQ(ids(split.test), ids(other_seed.test));
  EXPECT_NE(ids(split.val), ids(other_seed.val));
}

TEST(SourceHeldOutSplit, NearCopiesFollowTheirFirstMember) {
  // A bright, enlarged copy of a dark source-1 image lands in another cluster;
  // it still goes wherever its original (first by id) goes.
  TempDir dir;
  Files files = two_classes_three_sources();
  const cv::Mat original = source_image(1, 1005);  // a/s1_05.png, a training image
  files.emplace_back("a", "zz_copy.png", brighter(resized(original, 1.5), 90));
  const std::string root = write_folder(dir, "data", files);
  auto dataset = make_dataset("image_folder", {{"root", root}});
  const SplitResult split = split_samples(*dataset, dataset->samples(), held_out(3), 3, dir.file("cache"));
  const std::string first = root + "/a/s1_05.png", copy = root + "/a/zz_copy.png";
  ASSERT_EQ(split.group_of.at(first), split.group_of.at(copy)) << "the copy must be found as a near duplicate";
  ASSERT_NE(split.source_of.at(first), split.source_of.at(copy)) << "the copy must lie in another cluster";
  auto where = [&](const std::string& id) {
    for (const auto& [part, name] : {std::pair{&split.train, "train"}, {&split.val, "val"}, {&split.test, "test"}}) {
      for (const auto& s : *part) {
        if (s.id == id) return std::string(name);
      }
    }
    return std::string("nowhere");
  };
  EXPECT_EQ(where(first), "train");
  EXPECT_EQ(where(copy), "train");
}

TEST(SourceHeldOutSplit, BadSettingsAreErrorsNamingTheParameter) {
  TempDir dir;
  Files files;
  add(files, "a", 1, 12, 4000);
  add(files, "a", 2, 4, 4100);
  add(files, "b", 1, 12, 4200);  // b lies in source 1 only
  auto dataset = make_dataset("image_folder", {{"root", write_folder(dir, "data", files)}});
  const auto samples = dataset->samples();
  auto message = [&](const Parameters& split) {
    return error_message_of([&] { split_samples(*dataset, samples, split, 1, dir.file("cache")); });
  };
  Parameters unknown = held_out(2);
  unknown.set("hold_out", std::string("scanner"));
  EXPECT_NE(message(unknown).find("[split] hold_out must be \"none\" or \"source\", found \"scanner\""),
            std::string::npos);
  EXPECT_NE(message(held_out(-1)).find("[split] source_clusters must be 0"), std::string::npos);
  Parameters folds = held_out(2);
  folds.set("folds", std::int64_t{5});
  EXPECT_NE(message(folds).find("cannot be combined with folds = 5"), std::string::npos);
  const std::string one_cluster = message(held_out(2));
  EXPECT_NE(one_cluster.find("class 'b' lies in source cluster"), std::string::npos) << one_cluster;
  EXPECT_NE(one_cluster.find("set [split] source_clusters to more clusters"), std::string::npos) << one_cluster;
  EXPECT_NE(message(held_out(40)).find("need at least 40 readable images"), std::string::npos);
}

TEST(SourceHeldOutSplit, TheManifestRecordsEachFilesSource) {
  TempDir dir;
  SplitResult split;
  split.train = {{"/d/a/x.png", 0, ""}};
  split.test = {{"/d/b/y.png", 1, ""}};
  split.group_of = {{"/d/a/x.png", 0}, {"/d/b/y.png", 1}};
  split.hold_out = "source";
  split.source_of = {{"/d/a/x.png", 2}, {"/d/b/y.png", 0}};
  write_split_manifest(dir.file("run/split.csv"), split, {"a", "b"});
  EXPECT_EQ(read_text(dir.file("run/split.csv")),
            "file,class,split,group,source\n/d/a/x.png,a,train,0,2\n/d/b/y.png,b,test,1,0\n");
}

// The CLI: `cerebra audit PIPELINE --set split.hold_out=source` shows the
// held-out split as a run would make it, and a run records it.
TEST(SourceHeldOutCommand, AuditAndRunShowTheHeldOutSources) {
  TempDir dir;
  const std::string root = write_folder(dir, "data", two_classes_three_sources());
  write_text(dir.file("p.toml"),
             fmt::format("[run]\nseed = 3\nthreads = 1\n[dataset]\ntype = \"image_folder\"\nroot = \"{}\"\n"
                         "[split]\ntrain = 0.7\nval = 0.15\ntest = 0.15\n[loader]\ncache_dir = \"{}\"\n"
                         "[[preprocess]]\ntype = \"resize\"\nsize = 32\n[model]\ntype = \"cnn\"\ninput_size = 32\n"
                         "[training]\nepochs = 1\nbatch_size = 16\n",
                         root, dir.file("cache")));
  const std::string set = " --set split.hold_out=source --set split.source_clusters=3";
  const CommandResult audit = run_command(cli() + " audit '" + dir.file("p.toml") + "'" + set + " --json 2>/dev/null");
  ASSERT_EQ(audit.exit_code, 0) << audit.output;
  const nlohmann::json source = nlohmann::json::parse(audit.output)["sources"][0];
  EXPECT_NE(source["split_note"].get<std::string>().find("source-held-out split over 3 source clusters"),
            std::string::npos);
  // Each cluster's files of a class lie in one split: whole clusters moved.
  ASSERT_EQ(source["clusters"]["clusters"].size(), 3u);
  for (const auto& cluster : source["clusters"]["clusters"]) {
    std::map<std::string, int> splits_per_class;
    for (const auto& [split, classes] : cluster["splits"].items()) {
      for (const auto& [name, files] : classes.items()) ++splits_per_class[name];
    }
    for (const auto& [name, count] : splits_per_class) EXPECT_EQ(count, 1) << cluster.dump();
  }
  EXPECT_EQ(source["splits"]["test"], 16);

  const CommandResult run =
      run_command(cli() + " run '" + dir.file("p.toml") + "'" + set + " --set run.output=" + dir.file("runs"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto directory = only_run(dir.file("runs"));
  const nlohmann::json summary = read_json(directory / "summary.json");
  EXPECT_EQ(summary["split"]["hold_out"], "source");
  EXPECT_EQ(summary["split"]["source_clusters"], 3);
  EXPECT_EQ(summary["split"]["test"], 16);
  int test_files = 0;
  for (const auto& [name, clusters] : summary["split"]["sources"]["test"].items()) {
    for (const auto& [cluster, files] : clusters.items()) test_files += files.get<int>();
  }
  EXPECT_EQ(test_files, 16);
  EXPECT_EQ(read_text(directory / "split.csv").rfind("file,class,split,group,source\n", 0), 0u);
  EXPECT_NE(run.output.find("data: source-held-out split over 3 source clusters"), std::string::npos) << run.output;
  EXPECT_NE(read_text(directory / "report.html").find("Source-held-out split ([split] hold_out = &quot;source&quot;, 3 "),
            std::string::npos);
}

}  // namespace
}  // namespace cerebra::testing
