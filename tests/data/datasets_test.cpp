// Dataset plugins on folders the tests write: every image format the loader
// must accept, odd file names, and clear errors for broken layouts.
#include <cstdlib>
#include <set>

#include <opencv2/imgproc.hpp>

#include "data_test_support.h"

namespace cerebra::testing {
namespace {

namespace fs = std::filesystem;

TEST(ImageFolder, ReadsEveryFormatAndOddNames) {
  TempDir dir;
  const std::string a = dir.file("a");
  cv::Mat bgr(12, 16, CV_8UC3, cv::Scalar(10, 20, 200));
  cv::Mat gray(12, 16, CV_8UC1, cv::Scalar(77));
  cv::Mat bgra(12, 16, CV_8UC4, cv::Scalar(10, 20, 200, 128));
  cv::Mat deep(12, 16, CV_16UC1);
  for (int x = 0; x < 16; ++x) deep.col(x).setTo(x * 4000);  // 0 .. 60000

  write_image(a + "/gray.png", gray);
  write_image(a + "/rgb.png", bgr);
  write_image(a + "/rgba.png", bgra);
  write_image(a + "/deep16.png", deep);
  write_image(a + "/progressive.jpg", bgr, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  write_image(a + "/gray.jpg", gray);
  write_image(a + "/upper.JPEG", bgr);
  write_image(a + "/bitmap.bmp", bgr);
  write_image(a + "/tagged.tiff", bgr);
  write_image(a + "/netpbm.pgm", gray);
  write_image(a + "/scan (1).png", gray);
  write_image(a + "/image(12).png", gray);
  write_image(a + "/Gehirn ä ö ü — 脑.png", gray);
  write_image(a + "/with,comma \"quoted\".png", gray);
  write_bytes(a + "/palette.png",
              palette_png(4, 2, {{255, 0, 0}, {0, 0, 255}}, {0, 1, 0, 1, 1, 0, 1, 0}));
  write_image(dir.file("b/only.png"), gray);
  // Not images: ignored by extension, not counted as samples.
  write_text(a + "/notes.txt", "not an image");
  write_text(a + "/.hidden.png", "hidden files are skipped");

  auto dataset = make_dataset("image_folder", {{"root", dir.path().string()}});
  EXPECT_EQ(dataset->class_names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(dataset->positive_class(), -1);
  auto samples = dataset->samples();
  ASSERT_EQ(samples.size(), 16u);
  std::set<std::string> names;
  for (const auto& sample : samples) {
    names.insert(fs::path(sample.id).filename().string());
    cv::Mat image = dataset->load(sample);
    EXPECT_EQ(image.depth(), CV_8U) << sample.id;
    EXPECT_TRUE(image.channels() == 1 || image.channels() == 3) << sample.id;
    EXPECT_EQ(image.cols, fs::path(sample.id).filename() == "palette.png" ? 4 : 16) << sample.id;
    EXPECT_EQ(sample.label, fs::path(sample.id).parent_path().filename() == "a" ? 0 : 1);
  }
  EXPECT_TRUE(names.count("Gehirn ä ö ü — 脑.png"));
  EXPECT_TRUE(names.count("scan (1).png"));
  EXPECT_FALSE(names.count("notes.txt"));
  EXPECT_FALSE(names.count(".hidden.png"));

  // Known pixels survive decoding: alpha dropped, 16-bit scaled over its range,
  // palette indices turned into their colours (BGR).
  cv::Mat rgba = dataset->load({a + "/rgba.png", 0, ""});
  ASSERT_EQ(rgba.channels(), 3);
  EXPECT_EQ(rgba.at<cv::Vec3b>(0, 0), cv::Vec3b(10, 20, 200));
  cv::Mat scaled = dataset->load({a + "/deep16.png", 0, ""});
  EXPECT_EQ(scaled.at<unsigned char>(0, 0), 0);
  EXPECT_EQ(scaled.at<unsigned char>(0, 15), 255);
  cv::Mat palette = dataset->load({a + "/palette.png", 0, ""});
  ASSERT_EQ(palette.channels(), 3);
  EXPECT_EQ(palette.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 255));  // red
  EXPECT_EQ(palette.at<cv::Vec3b>(0, 1), cv::Vec3b(255, 0, 0));  // blue
  cv::Mat progressive = dataset->load({a + "/progressive.jpg", 0, ""});
  EXPECT_NEAR(progressive.at<cv::Vec3b>(6, 8)[2], 200, 4);
}

TEST(ImageFolder, BadFilesAreListedButReadErrorsNameThem) {
  TempDir dir;
  cv::Mat image(32, 32, CV_8UC3, cv::Scalar(1, 2, 3));
  cv::randu(image, 0, 255);
  write_bytes(dir.file("c/empty.jpg"), {});
  auto jpeg = encode(".jpg", image);
  write_bytes(dir.file("c/truncated.jpg"), {jpeg.begin(), jpeg.begin() + jpeg.size() * 9 / 10});
  auto png = encode(".png", image);
  write_bytes(dir.file("c/truncated.png"), {png.begin(), png.begin() + png.size() / 2});
  write_text(dir.file("c/text.png"), "this is not a PNG");
  auto dataset = make_dataset("image_folder", {{"root", dir.path().string()}});
  ASSERT_EQ(dataset->samples().size(), 4u);
  for (const auto& [name, reason] : std::vector<std::pair<std::string, std::string>>{
           {"empty.jpg", "empty file"},
           {"truncated.jpg", "truncated JPEG"},
           {"truncated.png", "not a readable image"},
           {"text.png", "not a readable image"}}) {
    std::string path = dir.file("c/" + name);
    std::string message = error_message_of([&] { dataset->load({path, 0, ""}); });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(reason), std::string::npos) << message;
  }
}

TEST(ImageFolder, LayoutErrorsNameThePath) {
  TempDir dir;
  std::string missing = dir.file("nowhere");
  EXPECT_NE(error_message_of([&] { make_dataset("image_folder", {{"root", missing}})->samples(); }).find(missing),
            std::string::npos);
  fs::create_directories(dir.file("root/empty_class"));
  write_image(dir.file("root/full/x.png"), cv::Mat(4, 4, CV_8UC1, cv::Scalar(1)));
  std::string message =
      error_message_of([&] { make_dataset("image_folder", {{"root", dir.file("root")}})->samples(); });
  EXPECT_NE(message.find(dir.file("root/empty_class")), std::string::npos) << message;
  EXPECT_NE(message.find("empty"), std::string::npos) << message;

  write_text(dir.file("texts/a/readme.txt"), "x");
  message = error_message_of([&] { make_dataset("image_folder", {{"root", dir.file("texts")}})->samples(); });
  EXPECT_NE(message.find(dir.file("texts/a")), std::string::npos) << message;
  EXPECT_NE(message.find("no images"), std::string::npos) << message;

  write_image(dir.file("two/cat/x.png"), cv::Mat(4, 4, CV_8UC1, cv::Scalar(1)));
  write_image(dir.file("two/dog/x.png"), cv::Mat(4, 4, CV_8UC1, cv::Scalar(1)));
  EXPECT_EQ(make_dataset("image_folder", {{"root", dir.file("two")}, {"positive_class", std::string("dog")}})
                ->positive_class(),
            1);
  message = error_message_of([&] {
    make_dataset("image_folder", {{"root", dir.file("two")}, {"positive_class", std::string("cow")}})
        ->positive_class();
  });
  EXPECT_NE(message.find("cow"), std::string::npos) << message;
}

TEST(Br35h, UsesYesAndNoButNeverPred) {
  TempDir dir;
  cv::Mat image(8, 8, CV_8UC1, cv::Scalar(9));
  for (int i = 0; i < 3; ++i) write_image(dir.file("br35h/yes/y" + std::to_string(i) + ".jpg"), image);
  for (int i = 0; i < 2; ++i) write_image(dir.file("br35h/no/No" + std::to_string(i) + ".jpg"), image);
  write_image(dir.file("br35h/pred/pred0.jpg"), image);
  ScopedEnv env("CEREBRA_DATA", dir.path().string());
  auto dataset = make_dataset("br35h");  // default root "br35h" under $CEREBRA_DATA
  EXPECT_EQ(dataset->class_names(), (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(dataset->positive_class(), 1);
  auto samples = dataset->samples();
  ASSERT_EQ(samples.size(), 5u);
  int yes = 0;
  for (const auto& sample : samples) {
    EXPECT_EQ(sample.id.find("pred"), std::string::npos);
    yes += sample.label == 1;
  }
  EXPECT_EQ(yes, 3);

  fs::remove_all(dir.file("br35h/no"));
  std::string message = error_message_of([&] { dataset->samples(); });
  EXPECT_NE(message.find(dir.file("br35h")), std::string::npos) << message;
  EXPECT_NE(message.find("missing no"), std::string::npos) << message;
}

TEST(Br35h, RelativeRootFallsBackToDatasetsFolder) {
  TempDir dir;
  write_image(dir.file("datasets/mine/yes/a.png"), cv::Mat(4, 4, CV_8UC1, cv::Scalar(1)));
  write_image(dir.file("datasets/mine/no/b.png"), cv::Mat(4, 4, CV_8UC1, cv::Scalar(1)));
  ScopedEnv no_data("CEREBRA_DATA", std::nullopt);
  fs::path previous = fs::current_path();
  fs::current_path(dir.path());
  std::size_t count = 0;
  std::string message;
  try {
    count = make_dataset("br35h", {{"root", std::string("mine")}})->samples().size();
  } catch (const Error& error) {
    message = error.what();
  }
  fs::current_path(previous);
  EXPECT_EQ(count, 2u) << message;
  EXPECT_EQ(resolve_dataset_root("/abs/path"), "/abs/path");
}

TEST(BrainTumor4Class, TestingFolderIsTheTestSplitWhenPresentAndWanted) {
  TempDir dir;
  const std::vector<std::string> classes = {"glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"};
  cv::Mat image(8, 8, CV_8UC1, cv::Scalar(5));
  for (std::size_t c = 0; c < classes.size(); ++c) {
    for (std::size_t i = 0; i <= c; ++i) {
      write_image(dir.file("4c/Training/" + classes[c] + "/gg (" + std::to_string(i) + ").jpg"), image);
    }
  }
  auto without = make_dataset("brain_tumor_4class", {{"root", dir.file("4c")}});
  EXPECT_EQ(without->class_names(), classes);
  auto samples = without->samples();
  ASSERT_EQ(samples.size(), 10u);  // 1 + 2 + 3 + 4, no Testing/ yet
  for (const auto& sample : samples) EXPECT_EQ(sample.subset, "");

  for (const auto& name : classes) write_image(dir.file("4c/Testing/" + name + "/image(1).jpg"), image);
  samples = without->samples();
  ASSERT_EQ(samples.size(), 14u);
  int test = 0;
  for (const auto& sample : samples) test += sample.subset == "test";
  EXPECT_EQ(test, 4);

  auto ignoring = make_dataset("brain_tumor_4class",
                               {{"root", dir.file("4c")}, {"use_testing_folder", false}});
  EXPECT_EQ(ignoring->samples().size(), 10u);

  fs::remove_all(dir.file("4c/Training/no_tumor"));
  std::string message = error_message_of([&] { ignoring->samples(); });
  EXPECT_NE(message.find("no_tumor"), std::string::npos) << message;
  EXPECT_NE(message.find(dir.file("4c/Training")), std::string::npos) << message;
}

TEST(Synthetic, SameSeedSamePixelsAndLabelledIds) {
  auto first = make_dataset("synthetic", {{"count", std::int64_t{8}}, {"image_size", std::int64_t{64}}});
  auto again = make_dataset("synthetic", {{"count", std::int64_t{8}}, {"image_size", std::int64_t{64}}});
  auto other = make_dataset("synthetic",
                            {{"count", std::int64_t{8}}, {"image_size", std::int64_t{64}}, {"seed", std::int64_t{2}}});
  EXPECT_EQ(first->class_names(), (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(first->positive_class(), 1);
  auto samples = first->samples();
  ASSERT_EQ(samples.size(), 8u);
  EXPECT_EQ(samples[3].id, "synthetic:1:3");
  int positives = 0;
  for (const auto& sample : samples) {
    cv::Mat a = first->load(sample), b = again->load(sample);
    ASSERT_EQ(a.type(), CV_8UC1);
    ASSERT_EQ(a.size(), cv::Size(64, 64));
    EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0) << sample.id;
    EXPECT_EQ(first->fingerprint(sample), again->fingerprint(sample));
    positives += sample.label == 1;
  }
  EXPECT_EQ(positives, 4);
  auto other_samples = other->samples();
  EXPECT_GT(cv::norm(first->load(samples[0]), other->load(other_samples[0]), cv::NORM_L1), 0);
  EXPECT_NE(first->fingerprint(samples[0]), first->fingerprint(samples[1]));
  // Ids of another seed are refused, not rendered with the wrong seed.
  EXPECT_THROW(first->load(other_samples[0]), Error);
  EXPECT_THROW(first->load({"synthetic:1:99", 0, ""}), Error);
}

TEST(Synthetic, FourClassesAndLesionsShowUp) {
  auto dataset = make_dataset("synthetic", {{"classes", std::int64_t{4}}, {"count", std::int64_t{40}},
                                            {"image_size", std::int64_t{96}}, {"noise", 0.0},
                                            {"faint_fraction", 0.0}});
  EXPECT_EQ(dataset->class_names(),
            (std::vector<std::string>{"glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"}));
  EXPECT_EQ(dataset->positive_class(), -1);
  // With the lesion contrast at zero the tumour classes lose their lesion, so
  // the difference to the full-contrast render is where the lesion was: none
  // for no_tumor, something for the three tumour classes.
  auto flat = make_dataset("synthetic", {{"classes", std::int64_t{4}}, {"count", std::int64_t{40}},
                                         {"image_size", std::int64_t{96}}, {"noise", 0.0},
                                         {"faint_fraction", 0.0}, {"lesion_contrast", 0.0}});
  for (const auto& sample : dataset->samples()) {
    cv::Mat with = dataset->load(sample), without = flat->load(sample);
    cv::Mat diff;
    cv::absdiff(with, without, diff);
    int changed = cv::countNonZero(diff > 20);
    if (sample.label == 2) {
      EXPECT_EQ(changed, 0) << sample.id;
    } else {
      EXPECT_GT(changed, 3) << sample.id;
    }
  }
  EXPECT_THROW(make_dataset("synthetic", {{"classes", std::int64_t{3}}}), Error);
}

TEST(Schemas, EveryDataComponentDeclaresCompleteParameters) {
  Registry& registry = data_registry();
  for (const char* kind : {kinds::dataset, kinds::transform}) {
    for (const ComponentInfo* info : registry.list(kind)) {
      EXPECT_TRUE(info->schema.problems().empty())
          << info->name << ": " << join(info->schema.problems(), "; ");
    }
  }
  for (const char* name : {"resize", "crop_brain", "to_rgb", "to_grayscale", "normalize", "clahe"}) {
    EXPECT_FALSE(make_transform(name)->is_random()) << name;
  }
  for (const char* name : {"random_flip", "random_rotate", "random_affine", "random_brightness_contrast",
                           "gaussian_noise", "random_crop"}) {
    EXPECT_TRUE(make_transform(name)->is_random()) << name;
  }
}

}  // namespace
}  // namespace cerebra::testing
