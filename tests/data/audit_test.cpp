// The audit: near duplicates found through resizing, re-encoding, small crops
// and brightness shifts but not between unrelated scans; label conflicts,
// split leaks, the trait cache, duplicate-aware splits and source confounds.
// Every image is drawn by the test.
#include <map>
#include <random>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "cerebra/audit.h"
#include "data_test_support.h"
#include "run_support.h"
#include "scan_images.h"

namespace cerebra::testing {
namespace {

TEST(NearDuplicates, CopiesAreFoundAndUnrelatedScansAreNot) {
  const cv::Mat base = scan(1);
  const ImageTraits original = measure_image(base);
  const NearOptions options;
  const std::vector<std::pair<const char*, cv::Mat>> copies = {
      {"resized to 40%", resized(base, 0.4)},     {"JPEG quality 60", jpeg(base, 60)},
      {"cropped 2% a side", cropped(base, 0.02)},  {"cropped 2% at left and top", cropped(base, 0.02, true)},
      {"brightness +30", brighter(base, 30)},     {"resized, re-encoded, brighter", jpeg(brighter(resized(base, 0.6), 20), 70)}};
  for (const auto& [what, copy] : copies) {
    const ImageTraits traits = measure_image(copy);
    EXPECT_TRUE(near_duplicates(original, traits, options))
        << what << ": hash distance " << hamming(original.phash, traits.phash) << ", correlation "
        << thumb_correlation(original, traits) << ", aligned " << aligned_correlation(original, traits);
  }
  for (unsigned seed = 2; seed < 40; ++seed) {
    const ImageTraits other = measure_image(scan(seed));
    EXPECT_FALSE(near_duplicates(original, other, options))
        << "scan " << seed << ": hash distance " << hamming(original.phash, other.phash) << ", correlation "
        << thumb_correlation(original, other);
  }
}

TEST(NearDuplicates, UnrelatedScansDisagreeOnAboutHalfTheHashBits) {
  const ImageTraits a = measure_image(scan(1)), b = measure_image(scan(2));
  EXPECT_GT(hamming(a.phash, b.phash), NearOptions{}.max_hamming);
  EXPECT_EQ(hamming(a.phash, a.phash), 0);
  EXPECT_LT(thumb_correlation(a, b), 0.9);
}

TEST(NearDuplicates, TraitsDescribeSizeAndIntensity) {
  cv::Mat image(100, 200, CV_8U, cv::Scalar(0));
  image(cv::Rect(50, 0, 100, 100)) = 255;
  const ImageTraits traits = measure_image(image, 400, 200);
  EXPECT_EQ(traits.width, 400);  // the stored size, not the reduced decode's
  EXPECT_EQ(traits.height, 200);
  EXPECT_EQ(traits.channels, 1);
  EXPECT_NEAR(traits.mean, 127.5, 1);
  EXPECT_NEAR(traits.black_share, 0.5, 0.01);
  EXPECT_LT(traits.border_mean, traits.mean);  // the frame is mostly the black sides
  EXPECT_NEAR(traits.histogram[0] + traits.histogram[7], 1.0, 1e-6);
}

TEST(NearDuplicates, NamePatternsCollapseDigits) {
  EXPECT_EQ(name_pattern("/data/glioma/gg (12).jpg"), "gg (#).jpg");
  EXPECT_EQ(name_pattern("no1023.jpg"), "no#.jpg");
  EXPECT_EQ(name_pattern("Tr-gl_0010.jpg"), "Tr-gl_#.jpg");
}

AuditSource folder_source(const std::string& root) {
  auto dataset = make_dataset("image_folder", {{"root", root}});
  return {"data", dataset, dataset->class_names(), dataset->samples(), {}};
}

TEST(Audit, FindsExactAndNearGroupsLabelConflictsAndLeaks) {
  TempDir dir;
  const cv::Mat base = scan(7);
  const std::string root = write_folder(dir, "data", {{"a", "base.png", base},
                                                      {"a", "base_q60.jpg", jpeg(base, 60)},
                                                      {"a", "other.png", scan(8)},
                                                      {"b", "base_again.png", base},
                                                      {"b", "third.png", scan(9)},
                                                      {"b", "fourth.png", scan(10)}});
  AuditSource source = folder_source(root);
  for (const auto& sample : source.samples) {
    source.split_of[sample.id] = sample.id.find("q60") != std::string::npos ? "test" : "train";
  }
  AuditOptions options;
  options.cache_dir = dir.file("cache");
  const nlohmann::json report = audit({source}, options);

  EXPECT_EQ(report["files"], 6);
  EXPECT_EQ(report["exact_duplicates"]["groups"], 1);  // base.png and base_again.png, byte for byte
  EXPECT_EQ(report["exact_duplicates"]["files"], 2);
  ASSERT_EQ(report["near_duplicates"]["groups"], 1);  // ... and the JPEG copy
  EXPECT_EQ(report["near_duplicates"]["files"], 3);
  EXPECT_EQ(report["exact"]["label_conflicts"]["groups"], 1);  // the same bytes under a and b
  EXPECT_EQ(report["near"]["split_leaks"]["groups"], 1);       // the JPEG copy is in test, its original in train
  EXPECT_EQ(report["exact"]["split_leaks"]["groups"], 0);
  EXPECT_TRUE(report["unreadable"].empty());
  EXPECT_EQ(report["sources"][0]["classes"]["a"], 3);
  EXPECT_EQ(report["sources"][0]["splits"]["test"], 1);
}

TEST(Audit, GroupsSpanningTwoDatasetsAndUnreadableFiles) {
  TempDir dir;
  const cv::Mat shared = scan(11);
  const std::string first = write_folder(dir, "first", {{"no", "s.png", shared}, {"yes", "y.png", scan(12)}});
  const std::string second =
      write_folder(dir, "second", {{"healthy", "copy.jpg", jpeg(resized(shared, 0.5), 80)}, {"sick", "z.png", scan(13)}});
  write_text(second + "/sick/broken.png", "not an image");
  AuditOptions options;
  options.cache_dir = dir.file("cache");
  const nlohmann::json report = audit({folder_source(first), folder_source(second)}, options);

  EXPECT_EQ(report["near"]["across_sources"]["groups"], 1);
  EXPECT_EQ(report["exact"]["across_sources"]["groups"], 0);
  EXPECT_EQ(report["shared_between_sources"]["distinct_images"], 0);  // not byte-identical
  ASSERT_EQ(report["unreadable"].size(), 1u);
  EXPECT_NE(report["unreadable"][0]["reason"].get<std::string>().find("broken.png"), std::string::npos);
}

TEST(Audit, TraitsComeFromTheCacheTheSecondTime) {
  TempDir dir;
  const std::string root = write_folder(dir, "data", {{"a", "1.png", scan(1)}, {"b", "2.png", scan(2)}});
  AuditSource source = folder_source(root);
  std::vector<std::string> fingerprints;
  std::vector<ImageTraits> first, second;
  {
    TraitStore store(dir.file("cache"));
    store.measure(*source.dataset, source.samples, 1, fingerprints, first);
    EXPECT_EQ(store.misses(), 2u);
    EXPECT_EQ(store.save(), "");
  }
  TraitStore again(dir.file("cache"));
  again.measure(*source.dataset, source.samples, 1, fingerprints, second);
  EXPECT_EQ(again.hits(), 2u);
  EXPECT_EQ(again.misses(), 0u);
  EXPECT_EQ(second[0].phash, first[0].phash);
  EXPECT_EQ(second[1].thumb, first[1].thumb);
  EXPECT_EQ(second[1].width, first[1].width);

  // A damaged cache is a cold cache, never an error.
  for (const auto& entry : std::filesystem::directory_iterator(dir.file("cache"))) {
    write_text(entry.path().string(), "cerebra audit traits 2\n\x05garbage");
  }
  TraitStore damaged(dir.file("cache"));
  damaged.measure(*source.dataset, source.samples, 1, fingerprints, second);
  EXPECT_EQ(damaged.misses(), 2u);
  EXPECT_EQ(second[0].phash, first[0].phash);
}

TEST(Audit, ConfoundedClassesAreReported) {
  // Class a: large dark scans; class b: small bright ones. The traits alone
  // tell them apart, whatever the anatomy.
  TempDir dir;
  std::vector<std::tuple<std::string, std::string, cv::Mat>> files;
  for (unsigned i = 0; i < 15; ++i) {
    files.emplace_back("a", "a" + std::to_string(i) + ".png", scan(100 + i, 320) / 2);
    files.emplace_back("b", "b" + std::to_string(i) + ".png", brighter(scan(200 + i, 180), 60));
  }
  AuditOptions options;
  options.cache_dir = dir.file("cache");
  const nlohmann::json report = audit({folder_source(write_folder(dir, "data", files))}, options);
  const nlohmann::json& clusters = report["sources"][0]["clusters"];
  EXPECT_GE(clusters["trait_classifier"]["accuracy"].get<double>(), 0.95);
  EXPECT_NEAR(clusters["trait_classifier"]["chance"].get<double>(), 0.5, 1e-9);
  ASSERT_FALSE(clusters["confounds"].empty());
  EXPECT_NE(clusters["confounds"][0]["message"].get<std::string>().find("instead of the tumour"), std::string::npos);
}

TEST(Audit, UnrelatedClassesRaiseNoConfound) {
  TempDir dir;
  std::vector<std::tuple<std::string, std::string, cv::Mat>> files;
  for (unsigned i = 0; i < 15; ++i) {
    files.emplace_back("a", "a" + std::to_string(i) + ".png", scan(300 + i));
    files.emplace_back("b", "b" + std::to_string(i) + ".png", scan(400 + i));
  }
  AuditOptions options;
  options.cache_dir = dir.file("cache");
  const nlohmann::json report = audit({folder_source(write_folder(dir, "data", files))}, options);
  EXPECT_TRUE(report["sources"][0]["clusters"]["confounds"].empty()) << report["sources"][0]["clusters"].dump(1);
}

TEST(GroupedSplit, NearCopiesNeverStraddleSplits) {
  TempDir dir;
  std::vector<std::tuple<std::string, std::string, cv::Mat>> files;
  for (unsigned i = 0; i < 12; ++i) {
    const cv::Mat image = scan(500 + i);
    const std::string label = i % 2 ? "a" : "b";
    files.emplace_back(label, std::to_string(i) + ".png", image);
    files.emplace_back(label, std::to_string(i) + "_copy.jpg", jpeg(resized(image, 0.7), 60));
  }
  auto dataset = make_dataset("image_folder", {{"root", write_folder(dir, "data", files)}});
  const auto samples = dataset->samples();
  const SplitResult near = split_samples(*dataset, samples, params({{"group_by", std::string("near")}}), 3,
                                         dir.file("cache"));
  EXPECT_EQ(near.duplicate_groups, 12u);
  std::map<std::size_t, std::set<int>> splits_of_group;
  int which = 0;
  for (const auto* part : {&near.train, &near.val, &near.test}) {
    for (const auto& sample : *part) splits_of_group[near.group_of.at(sample.id)].insert(which);
    ++which;
  }
  EXPECT_EQ(splits_of_group.size(), 12u);
  for (const auto& [group, splits] : splits_of_group) EXPECT_EQ(splits.size(), 1u) << "group " << group;

  const SplitResult exact = split_samples(*dataset, samples, params({{"group_by", std::string("exact")}}), 3);
  EXPECT_EQ(exact.duplicate_groups, 0u);  // no two files are byte-identical
  EXPECT_EQ(exact.group_by, "exact");
  EXPECT_THROW(split_samples(*dataset, samples, params({{"group_by", std::string("nearby")}}), 3), Error);
}

TEST(GroupedSplit, OverlapWithAnotherDatasetIsFound) {
  TempDir dir;
  const cv::Mat seen = scan(600);
  const std::string mine = write_folder(dir, "mine", {{"a", "seen.png", seen}, {"a", "new.png", scan(601)},
                                                      {"b", "other.png", scan(602)}});
  const std::string theirs = write_folder(dir, "theirs", {{"x", "seen_small.jpg", jpeg(resized(seen, 0.5), 75)},
                                                          {"y", "unrelated.png", scan(603)}});
  auto dataset = make_dataset("image_folder", {{"root", mine}});
  auto other = make_dataset("image_folder", {{"root", theirs}});
  const auto samples = dataset->samples();
  const std::vector<bool> overlap = overlapping(*dataset, samples, {{other.get(), other->samples()}}, dir.file("cache"));
  ASSERT_EQ(overlap.size(), 3u);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    EXPECT_EQ(overlap[i], samples[i].id.find("seen.png") != std::string::npos) << samples[i].id;
  }
}

}  // namespace
}  // namespace cerebra::testing

namespace cerebra::testing {
namespace {

std::string cli() { return std::string(CEREBRA_CLI); }

TEST(AuditCommand, PrintsJsonAndWritesAPageWithThumbnails) {
  TempDir dir;
  const cv::Mat base = scan(21);
  const std::string root = write_folder(dir, "scans", {{"no", "a.png", base},
                                                       {"no", "b.png", scan(22)},
                                                       {"yes", "a_copy.jpg", jpeg(resized(base, 0.5), 60)},
                                                       {"yes", "c.png", scan(23)}});
  const std::string page = dir.file("audit.html");
  const CommandResult result =
      run_command(cli() + " audit '" + root + "' --json --cache '" + dir.file("cache") + "' --html '" + page + "' 2>/dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json report = nlohmann::json::parse(result.output);
  EXPECT_EQ(report["near"]["label_conflicts"]["groups"], 1);  // a.png under no, its copy under yes
  EXPECT_EQ(report["sources"][0]["name"], "scans");
  const std::string html = read_text(page);
  for (const char* part : {"Near duplicates", "Label conflicts", "data:image/png;base64,", "Content-Security-Policy"}) {
    EXPECT_NE(html.find(part), std::string::npos) << part;
  }

  const CommandResult text = run_command(cli() + " audit '" + root + "' --cache '" + dir.file("cache") + "'");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("label conflicts (near): 1 group(s), 2 file(s)"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("4 from the cache"), std::string::npos) << text.output;
}

TEST(AuditCommand, ImagesOutsideTheClassesAreAuditedAsUnlabelled) {
  TempDir dir;
  const cv::Mat base = scan(31);
  const std::string root = write_folder(dir, "br", {{"no", "n1.png", base}, {"yes", "y1.png", scan(32)}});
  std::filesystem::create_directories(root + "/pred");
  cv::imwrite(root + "/pred/p1.jpg", jpeg(base, 90));
  // br35h reads yes/ and no/ only; pred/ comes in unlabelled.
  const CommandResult result = run_command(cli() + " audit '" + root + "' --json --cache '" + dir.file("cache") + "' 2>/dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json report = nlohmann::json::parse(result.output);
  EXPECT_EQ(report["sources"][0]["unlabelled"]["pred"], 1);
  EXPECT_EQ(report["files"], 3);
  EXPECT_EQ(report["near_duplicates"]["groups"], 1);
}

TEST(AuditCommand, BadInputsAreNamed) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("empty"));
  auto missing = run_command(cli() + " audit '" + dir.file("nope") + "'");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("nope: no such file or folder"), std::string::npos) << missing.output;
  auto empty = run_command(cli() + " audit '" + dir.file("empty") + "'");
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_NE(empty.output.find("empty: no dataset plugin reads this folder"), std::string::npos) << empty.output;
  write_text(dir.file("notes.txt"), "x");
  auto text = run_command(cli() + " audit '" + dir.file("notes.txt") + "'");
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.output.find("not a folder, a pipeline (.toml) or a run"), std::string::npos) << text.output;
  auto usage = run_command(cli() + " audit '" + dir.file("empty") + "' --near-threshold 40");
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
}

TEST(AuditCommand, APipelineIsAuditedWithItsSplit) {
  TempDir dir;
  std::vector<std::tuple<std::string, std::string, cv::Mat>> files;
  for (unsigned i = 0; i < 10; ++i) {
    const cv::Mat image = scan(700 + i);
    files.emplace_back(i % 2 ? "a" : "b", std::to_string(i) + ".png", image);
    files.emplace_back(i % 2 ? "a" : "b", std::to_string(i) + "_copy.jpg", jpeg(image, 60));
  }
  const std::string root = write_folder(dir, "data", files);
  for (const char* group_by : {"near", "none"}) {
    write_text(dir.file("p.toml"), fmt::format("[run]\nseed = 5\n[dataset]\ntype = \"image_folder\"\nroot = \"{}\"\n"
                                               "[split]\ntrain = 0.5\nval = 0.25\ntest = 0.25\ngroup_by = \"{}\"\n"
                                               "[loader]\ncache_dir = \"{}\"\n[model]\ntype = \"cnn\"\n",
                                               root, group_by, dir.file("cache")));
    const CommandResult result = run_command(cli() + " audit '" + dir.file("p.toml") + "' --json 2>/dev/null");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const nlohmann::json report = nlohmann::json::parse(result.output);
    EXPECT_EQ(report["sources"][0]["splits"]["train"].get<int>() + report["sources"][0]["splits"]["val"].get<int>() +
                  report["sources"][0]["splits"]["test"].get<int>(),
              20);
    if (std::string(group_by) == "near") EXPECT_EQ(report["near"]["split_leaks"]["groups"], 0);
    else EXPECT_GT(report["near"]["split_leaks"]["groups"].get<int>(), 0) << "ten pairs split at random";
  }
}

TEST(AuditCommand, ExcludeOverlapWithDropsWhatTheOtherDatasetHolds) {
  TempDir dir;
  const cv::Mat seen = scan(801), also = scan(802);
  std::vector<std::tuple<std::string, std::string, cv::Mat>> files = {{"a", "seen.png", seen}, {"b", "also.png", also}};
  for (unsigned i = 0; i < 8; ++i) files.emplace_back(i % 2 ? "a" : "b", std::to_string(i) + ".png", scan(810 + i));
  const std::string mine = write_folder(dir, "mine", files);
  const std::string theirs = write_folder(dir, "theirs", {{"x", "copy.jpg", jpeg(resized(seen, 0.5), 70)},
                                                          {"y", "same.png", also}});
  const std::string pipeline = fmt::format(
      "[dataset]\ntype = \"image_folder\"\nroot = \"{}\"\n[split]\ntrain = 0.5\nval = 0.25\ntest = 0.25\n"
      "exclude_overlap_with = [\"{}\"]\n[loader]\ncache_dir = \"{}\"\n[model]\ntype = \"cnn\"\n",
      mine, "image_folder:" + theirs, dir.file("cache"));
  write_text(dir.file("p.toml"), pipeline);
  const CommandResult result = run_command(cli() + " audit '" + dir.file("p.toml") + "' --json 2>/dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json report = nlohmann::json::parse(result.output);
  EXPECT_EQ(report["files"], 8);  // seen.png (a near copy is theirs) and also.png (the same bytes) left out

  write_text(dir.file("bad.toml"), pipeline.substr(0, pipeline.find("exclude")) +
                                       "exclude_overlap_with = [\"image_foldr\"]\n[model]\ntype = \"cnn\"\n");
  const CommandResult invalid = run_command(cli() + " validate '" + dir.file("bad.toml") + "'");
  EXPECT_EQ(invalid.exit_code, 2) << invalid.output;
  EXPECT_NE(invalid.output.find("'image_foldr' is not a registered dataset (did you mean 'image_folder'?)"),
            std::string::npos)
      << invalid.output;
}

TEST(AuditCommand, ARunDirectoryIsAuditedWithTheSplitItRecorded) {
  TempDir dir;
  const cv::Mat image = scan(901);
  const std::string root = write_folder(dir, "data", {{"a", "x.png", image},
                                                      {"a", "x_copy.jpg", jpeg(image, 60)},
                                                      {"b", "y.png", scan(902)}});
  write_text(dir.file("run/pipeline.toml"), fmt::format("[dataset]\ntype = \"image_folder\"\nroot = \"{}\"\n"
                                                        "[model]\ntype = \"cnn\"\n", root));
  write_text(dir.file("run/split.csv"), fmt::format("file,class,split,group\n{0}/a/x.png,a,train,0\n"
                                                    "{0}/a/x_copy.jpg,a,test,1\n{0}/b/y.png,b,val,2\n", root));
  const CommandResult result =
      run_command(cli() + " audit '" + dir.file("run") + "' --json --cache '" + dir.file("cache") + "' 2>/dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json report = nlohmann::json::parse(result.output);
  EXPECT_EQ(report["near"]["split_leaks"]["groups"], 1);
  EXPECT_EQ(report["sources"][0]["splits"]["test"], 1);
}

}  // namespace
}  // namespace cerebra::testing
