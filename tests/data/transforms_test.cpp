// Each transform's effect on known pixels.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "data_test_support.h"

namespace cerebra::testing {
namespace {

cv::Mat run(const std::string& name, const cv::Mat& image, Settings settings = {}, std::uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  return make_transform(name, settings)->apply(image, rng);
}

TEST(Resize, StretchAndPadKeepingAspect) {
  cv::Mat image(2, 4, CV_8UC1, cv::Scalar(200));
  cv::Mat stretched = run("resize", image, {{"size", std::int64_t{8}}});
  EXPECT_EQ(stretched.size(), cv::Size(8, 8));
  EXPECT_EQ(cv::countNonZero(stretched != 200), 0);

  cv::Mat wide(50, 100, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::Mat padded = run("resize", wide, {{"size", std::int64_t{64}}, {"mode", std::string("pad")}});
  ASSERT_EQ(padded.size(), cv::Size(64, 64));
  // 100x50 fits as 64x32, centred: rows 16..47 white, the rest filled with 0.
  EXPECT_EQ(padded.at<cv::Vec3b>(0, 32), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(padded.at<cv::Vec3b>(15, 32), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(padded.at<cv::Vec3b>(16, 32), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(padded.at<cv::Vec3b>(47, 0), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(padded.at<cv::Vec3b>(48, 32), cv::Vec3b(0, 0, 0));

  cv::Mat sized = run("resize", image, {{"width", std::int64_t{10}}, {"height", std::int64_t{3}}});
  EXPECT_EQ(sized.size(), cv::Size(10, 3));
}

TEST(CropBrain, CropsToTheLargestBrightRegion) {
  cv::Mat image(100, 120, CV_8UC1, cv::Scalar(0));
  image(cv::Rect(30, 20, 40, 50)).setTo(180);  // the head
  image(cv::Rect(100, 90, 3, 3)).setTo(255);   // speckle: removed by the erosion
  cv::Mat exact = run("crop_brain", image, {{"blur", std::int64_t{0}}, {"margin", 0.0}});
  EXPECT_EQ(exact.size(), cv::Size(40, 50));
  EXPECT_EQ(cv::countNonZero(exact != 180), 0);

  cv::Mat with_margin = run("crop_brain", image, {{"blur", std::int64_t{0}}, {"margin", 0.1}});
  EXPECT_EQ(with_margin.size(), cv::Size(48, 60));  // 10% of 40 and 50 on each side

  cv::Mat colour;
  cv::cvtColor(image, colour, cv::COLOR_GRAY2BGR);
  EXPECT_EQ(run("crop_brain", colour, {{"blur", std::int64_t{0}}, {"margin", 0.0}}).size(), cv::Size(40, 50));

  cv::Mat blank(30, 30, CV_8UC1, cv::Scalar(0));
  EXPECT_EQ(run("crop_brain", blank).size(), blank.size());  // nothing to crop to: unchanged
  EXPECT_THROW(run("crop_brain", cv::Mat(8, 8, CV_32F, cv::Scalar(0))), Error);
  EXPECT_THROW(make_transform("crop_brain", {{"blur", std::int64_t{4}}}), Error);
}

TEST(Colour, ToRgbAndToGrayscale) {
  cv::Mat gray(3, 3, CV_8UC1, cv::Scalar(90));
  cv::Mat rgb = run("to_rgb", gray);
  ASSERT_EQ(rgb.type(), CV_8UC3);
  EXPECT_EQ(rgb.at<cv::Vec3b>(1, 1), cv::Vec3b(90, 90, 90));

  cv::Mat red(3, 3, CV_8UC3, cv::Scalar(0, 0, 255));  // BGR
  cv::Mat g = run("to_grayscale", red);
  ASSERT_EQ(g.type(), CV_8UC1);
  EXPECT_NEAR(g.at<unsigned char>(0, 0), 76, 1);  // 0.299 * 255
  EXPECT_EQ(run("to_grayscale", red, {{"keep_channels", true}}).type(), CV_8UC3);
}

TEST(Normalize, PresetsAndChannelOrder) {
  // RGB (255, 128, 0), stored BGR.
  cv::Mat image(2, 2, CV_8UC3, cv::Scalar(0, 128, 255));
  cv::Mat imagenet = run("normalize", image);
  ASSERT_EQ(imagenet.type(), CV_32FC3);
  cv::Vec3f pixel = imagenet.at<cv::Vec3f>(0, 0);
  // Stats are R, G, B; the image stays B, G, R.
  EXPECT_NEAR(pixel[2], (1.0 - 0.485) / 0.229, 1e-4);      // red
  EXPECT_NEAR(pixel[1], (128 / 255.0 - 0.456) / 0.224, 1e-4);  // green
  EXPECT_NEAR(pixel[0], (0.0 - 0.406) / 0.225, 1e-4);      // blue

  cv::Mat unit = run("normalize", cv::Mat(2, 2, CV_8UC1, cv::Scalar(51)), {{"preset", std::string("unit")}});
  ASSERT_EQ(unit.type(), CV_32FC1);
  EXPECT_NEAR(unit.at<float>(0, 0), 0.2, 1e-6);

  cv::Mat varied(4, 4, CV_8UC1);
  for (int i = 0; i < 16; ++i) varied.at<unsigned char>(i / 4, i % 4) = static_cast<unsigned char>(i * 10);
  cv::Mat standard = run("normalize", varied, {{"preset", std::string("per_image")}});
  cv::Scalar mean, stddev;
  cv::meanStdDev(standard, mean, stddev);
  EXPECT_NEAR(mean[0], 0.0, 1e-5);
  EXPECT_NEAR(stddev[0], 1.0, 1e-5);

  cv::Mat custom = run("normalize", image,
                       {{"preset", std::string("custom")}, {"mean", std::vector<double>{0.5, 0.5, 0.0}},
                        {"std", std::vector<double>{0.5, 0.5, 1.0}}});
  EXPECT_NEAR(custom.at<cv::Vec3f>(0, 0)[2], 1.0, 1e-5);  // red: (1 - 0.5) / 0.5
  EXPECT_NEAR(custom.at<cv::Vec3f>(0, 0)[0], 0.0, 1e-5);  // blue: (0 - 0) / 1

  // A gray image with colour statistics becomes three channels.
  EXPECT_EQ(run("normalize", cv::Mat(2, 2, CV_8UC1, cv::Scalar(0))).type(), CV_32FC3);

  EXPECT_THROW(make_transform("normalize", {{"preset", std::string("custom")}}), Error);
  EXPECT_THROW(make_transform("normalize", {{"preset", std::string("custom")},
                                            {"mean", std::vector<double>{0.5, 0.5}},
                                            {"std", std::vector<double>{1, 1}}}),
               Error);
  EXPECT_THROW(make_transform("normalize", {{"mean", std::vector<double>{0.5}}}), Error);
}

TEST(Clahe, RaisesLocalContrast) {
  cv::Mat flat(64, 64, CV_8UC1);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) flat.at<unsigned char>(y, x) = static_cast<unsigned char>(100 + (x + y) % 8);
  cv::Mat out = run("clahe", flat);
  cv::Scalar m0, s0, m1, s1;
  cv::meanStdDev(flat, m0, s0);
  cv::meanStdDev(out, m1, s1);
  EXPECT_GT(s1[0], 2 * s0[0]);
  cv::Mat colour;
  cv::cvtColor(flat, colour, cv::COLOR_GRAY2BGR);
  EXPECT_EQ(run("clahe", colour).type(), CV_8UC3);
  EXPECT_THROW(run("clahe", cv::Mat(8, 8, CV_32F, cv::Scalar(0))), Error);
}

TEST(RandomFlip, FlipsWithItsProbability) {
  cv::Mat image = ramp(5, 3);
  cv::Mat flipped = run("random_flip", image, {{"horizontal", 1.0}});
  EXPECT_EQ(flipped.at<unsigned char>(0, 0), image.at<unsigned char>(0, 4));
  EXPECT_EQ(flipped.at<unsigned char>(2, 4), image.at<unsigned char>(2, 0));
  cv::Mat vertical = run("random_flip", image, {{"horizontal", 0.0}, {"vertical", 1.0}});
  EXPECT_EQ(vertical.at<unsigned char>(0, 1), image.at<unsigned char>(2, 1));
  cv::Mat kept = run("random_flip", image, {{"horizontal", 0.0}});
  EXPECT_EQ(cv::norm(kept, image, cv::NORM_INF), 0);
  // About half of the draws flip with p = 0.5.
  auto flip = make_transform("random_flip");
  std::mt19937_64 rng(5);
  int flips = 0;
  for (int i = 0; i < 1000; ++i) flips += flip->apply(image, rng).at<unsigned char>(0, 0) != image.at<unsigned char>(0, 0);
  EXPECT_NEAR(flips, 500, 60);
}

TEST(RandomRotate, SameSeedSameAngleCentreStays) {
  cv::Mat image(41, 41, CV_8UC1, cv::Scalar(0));
  image(cv::Rect(20, 0, 1, 41)).setTo(255);  // vertical line through the centre
  cv::Mat a = run("random_rotate", image, {{"degrees", 45.0}}, 11);
  cv::Mat b = run("random_rotate", image, {{"degrees", 45.0}}, 11);
  cv::Mat c = run("random_rotate", image, {{"degrees", 45.0}}, 12);
  EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0);
  EXPECT_GT(cv::norm(a, c, cv::NORM_L1), 0);
  EXPECT_EQ(a.at<unsigned char>(20, 20), 255);  // rotation is about the centre
  EXPECT_LT(a.at<unsigned char>(0, 20), 255);   // the line's end moved away
  cv::Mat none = run("random_rotate", image, {{"degrees", 0.0}});
  EXPECT_EQ(cv::norm(none, image, cv::NORM_INF), 0);
}

TEST(RandomAffine, ZoomAboutTheCentre) {
  cv::Mat image(21, 21, CV_8UC1, cv::Scalar(0));
  image(cv::Rect(8, 8, 5, 5)).setTo(200);  // 5x5 square in the middle
  cv::Mat zoomed = run("random_affine", image,
                       {{"scale_min", 2.0}, {"scale_max", 2.0}, {"translate", 0.0}, {"shear", 0.0}});
  // Doubled about the centre (10, 10): the square now spans about 6..14.
  EXPECT_EQ(zoomed.at<unsigned char>(10, 10), 200);
  EXPECT_EQ(zoomed.at<unsigned char>(7, 10), 200);
  EXPECT_EQ(zoomed.at<unsigned char>(10, 13), 200);
  EXPECT_EQ(zoomed.at<unsigned char>(3, 10), 0);
  cv::Mat shifted = run("random_affine", image,
                        {{"scale_min", 1.0}, {"scale_max", 1.0}, {"translate", 0.3}, {"shear", 0.0}}, 3);
  EXPECT_EQ(cv::sum(shifted)[0] > 0, true);
  EXPECT_GT(cv::norm(shifted, image, cv::NORM_L1), 0);
  EXPECT_THROW(make_transform("random_affine", {{"scale_min", 1.2}, {"scale_max", 1.1}}), Error);
}

TEST(RandomRotate, NearestSamplesOnlyValuesOfTheImage) {
  // A checkerboard of 0 and 200: nearest keeps exactly those values, linear
  // blends neighbours into values between them.
  cv::Mat image(24, 24, CV_8UC1);
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 24; ++x) image.at<unsigned char>(y, x) = ((x / 3 + y / 3) % 2) ? 200 : 0;
  auto blended = [](const cv::Mat& out) {
    return cv::countNonZero((out > 0) & (out < 200));
  };
  cv::Mat nearest = run("random_rotate", image, {{"degrees", 30.0}, {"interpolation", std::string("nearest")}}, 4);
  cv::Mat linear = run("random_rotate", image, {{"degrees", 30.0}}, 4);
  EXPECT_GT(cv::norm(nearest, image, cv::NORM_L1), 0);  // it did rotate
  EXPECT_EQ(blended(nearest), 0);
  EXPECT_GT(blended(linear), 20);
  EXPECT_THROW(make_transform("random_affine", {{"interpolation", std::string("cubic")}}), Error);
}

TEST(RandomBrightnessContrast, ShiftsEveryPixelAlike) {
  cv::Mat image(4, 4, CV_8UC1, cv::Scalar(100));
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    cv::Mat out = run("random_brightness_contrast", image, {{"brightness", 0.2}, {"contrast", 0.0}}, seed);
    double low, high;
    cv::minMaxLoc(out, &low, &high);
    EXPECT_EQ(low, high);
    EXPECT_GE(low, 100 - 51);
    EXPECT_LE(high, 100 + 51);
  }
  cv::Mat floats(2, 2, CV_32F, cv::Scalar(0.5));
  cv::Mat out = run("random_brightness_contrast", floats, {{"brightness", 0.0}, {"contrast", 0.5}}, 4);
  EXPECT_EQ(out.type(), CV_32F);
  EXPECT_GE(out.at<float>(0, 0), 0.25f - 1e-6f);
  EXPECT_LE(out.at<float>(0, 0), 0.75f + 1e-6f);
}

TEST(GaussianNoise, HasTheRequestedSpread) {
  cv::Mat image(128, 128, CV_8UC1, cv::Scalar(128));
  cv::Mat out = run("gaussian_noise", image, {{"sigma", 0.1}, {"p", 1.0}});
  cv::Scalar mean, stddev;
  cv::meanStdDev(out, mean, stddev);
  EXPECT_NEAR(mean[0], 128, 1.0);
  EXPECT_NEAR(stddev[0], 25.5, 1.0);
  EXPECT_EQ(cv::norm(run("gaussian_noise", image, {{"p", 0.0}}), image, cv::NORM_INF), 0);
}

TEST(RandomGamma, FollowsTheDrawnCurveKeepingBlackAndWhite) {
  cv::Mat image(1, 3, CV_8UC1);
  image.at<unsigned char>(0, 0) = 0;
  image.at<unsigned char>(0, 1) = 128;
  image.at<unsigned char>(0, 2) = 255;
  int darker = 0, brighter = 0;
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    cv::Mat out = run("random_gamma", image, {{"gamma", 2.0}, {"p", 1.0}}, seed);
    // The stage's own draws, repeated: the firing chance, then log gamma.
    std::mt19937_64 rng(seed);
    random_chance(rng, 1.0);
    const double gamma = std::exp(random_uniform(rng, -std::log(2.0), std::log(2.0)));
    ASSERT_EQ(out.type(), CV_8UC1);
    EXPECT_EQ(out.at<unsigned char>(0, 0), 0);
    EXPECT_EQ(out.at<unsigned char>(0, 2), 255);
    EXPECT_NEAR(out.at<unsigned char>(0, 1), 255 * std::pow(128 / 255.0, gamma), 0.51) << gamma;
    darker += gamma > 1.05 && out.at<unsigned char>(0, 1) < 126;
    brighter += gamma < 0.95 && out.at<unsigned char>(0, 1) > 130;
  }
  // Log-uniform in [1/2, 2]: about as many darken as brighten.
  EXPECT_GT(darker, 10);
  EXPECT_GT(brighter, 10);

  cv::Mat floats(2, 2, CV_32FC3, cv::Scalar::all(0.5));
  cv::Mat out = run("random_gamma", floats, {{"gamma", 2.0}, {"p", 1.0}}, 3);
  ASSERT_EQ(out.type(), CV_32FC3);
  EXPECT_GE(out.at<cv::Vec3f>(1, 1)[2], 0.25f - 1e-6f);
  EXPECT_LE(out.at<cv::Vec3f>(1, 1)[2], 0.7072f);
  EXPECT_EQ(cv::norm(run("random_gamma", image, {{"gamma", 1.0}, {"p", 1.0}}), image, cv::NORM_INF), 0);
}

// A head-like picture: black background around a bright disc with a darker
// spot, 8-bit gray.
cv::Mat phantom(int side, double brightness = 1.0) {
  cv::Mat image(side, side, CV_8UC1, cv::Scalar(0));
  cv::circle(image, {side / 2, side / 2}, side * 2 / 5, cv::Scalar(150 * brightness), cv::FILLED);
  cv::circle(image, {side / 2 + side / 8, side / 2}, side / 8, cv::Scalar(60 * brightness), cv::FILLED);
  return image;
}

TEST(RandomBiasField, KeepsBlackBlackAndTiltsTheHead) {
  const cv::Mat image = phantom(96);
  const cv::Mat background = image == 0;
  cv::Mat left = cv::Mat::zeros(image.size(), CV_8U), right = left.clone();
  left(cv::Rect(0, 0, 48, 96)).setTo(255);
  right(cv::Rect(48, 0, 48, 96)).setTo(255);
  const cv::Mat head = image == 150;
  double largest_tilt = 0;
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    cv::Mat out = run("random_bias_field", image, {{"strength", 0.5}, {"p", 1.0}}, seed);
    ASSERT_EQ(out.type(), CV_8UC1);
    EXPECT_EQ(cv::countNonZero(out & background), 0) << seed;
    // The field stays within exp(+/- strength) of the original.
    double low, high;
    cv::minMaxLoc(out, &low, &high, nullptr, nullptr, head);
    EXPECT_GE(low, std::floor(150 * std::exp(-0.5))) << seed;
    EXPECT_LE(high, std::ceil(150 * std::exp(0.5))) << seed;
    // Smooth: neighbouring head pixels differ by a few levels (a cubic's
    // slope near the centre is at most 3x its largest value, Bernstein), not
    // by the tens a pixel-by-pixel field would give.
    cv::Mat step;
    cv::absdiff(out(cv::Rect(30, 24, 30, 1)), out(cv::Rect(31, 24, 30, 1)), step);  // inside the disc, off the spot
    EXPECT_LE(cv::norm(step, cv::NORM_INF), 8) << seed;
    const double ratio = cv::mean(out, head & left)[0] / cv::mean(out, head & right)[0];
    largest_tilt = std::max(largest_tilt, std::abs(std::log(ratio)));
  }
  // Before, both halves of the uniform disc have the same mean.
  EXPECT_NEAR(cv::mean(image, head & left)[0] / cv::mean(image, head & right)[0], 1.0, 1e-9);
  EXPECT_GT(largest_tilt, 0.1);
  EXPECT_EQ(cv::norm(run("random_bias_field", image, {{"strength", 0.0}, {"p", 1.0}}), image, cv::NORM_INF), 0);

  cv::Mat colour;
  cv::cvtColor(image, colour, cv::COLOR_GRAY2BGR);
  cv::Mat out = run("random_bias_field", colour, {{"strength", 0.5}, {"p", 1.0}}, 4);
  ASSERT_EQ(out.type(), CV_8UC3);
  std::vector<cv::Mat> planes;
  cv::split(out, planes);
  // One field for every channel: gray stays gray.
  EXPECT_EQ(cv::norm(planes[0], planes[2], cv::NORM_INF), 0);
  EXPECT_EQ(cv::norm(planes[0], run("random_bias_field", image, {{"strength", 0.5}, {"p", 1.0}}, 4), cv::NORM_INF),
            0);
}

TEST(RandomBlur, LowersTheVarianceOfACheckerboard) {
  cv::Mat board(32, 32, CV_8UC1);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) board.at<unsigned char>(y, x) = ((x / 4 + y / 4) % 2) ? 255 : 0;
  auto spread = [](const cv::Mat& image) {
    cv::Scalar mean, stddev;
    cv::meanStdDev(image, mean, stddev);
    return std::pair<double, double>(mean[0], stddev[0]);
  };
  const auto [mean, before] = spread(board);
  const auto [mean_soft, soft] = spread(run("random_blur", board, {{"sigma_min", 0.7}, {"sigma_max", 0.7}, {"p", 1.0}}));
  const auto [mean_blurred, blurred] =
      spread(run("random_blur", board, {{"sigma_min", 2.0}, {"sigma_max", 2.0}, {"p", 1.0}}));
  EXPECT_LT(soft, 0.9 * before);
  EXPECT_LT(blurred, 0.6 * soft);  // a wider kernel smooths more
  EXPECT_NEAR(mean_soft, mean, 2);
  EXPECT_NEAR(mean_blurred, mean, 2);
  EXPECT_EQ(cv::norm(run("random_blur", board, {{"p", 0.0}}), board, cv::NORM_INF), 0);
  EXPECT_EQ(run("random_blur", cv::Mat(8, 8, CV_32FC3, cv::Scalar::all(0.5)), {{"p", 1.0}}).type(), CV_32FC3);
  EXPECT_THROW(make_transform("random_blur", {{"sigma_min", 2.0}, {"sigma_max", 1.0}}), Error);
}

TEST(Transforms, ScannerStagesDrawAsMuchWhetherOrNotTheyFire) {
  // Equal draws with p = 0 and p = 1, so one stage's probability never shifts
  // the next stage's numbers; a different seed gives a different image.
  const cv::Mat image = phantom(40);
  for (const char* name : {"random_gamma", "random_bias_field", "random_blur"}) {
    std::mt19937_64 never(5), always(5), again(5), other(6);
    cv::Mat kept = make_transform(name, {{"p", 0.0}})->apply(image, never);
    auto firing = make_transform(name, {{"p", 1.0}});
    cv::Mat changed = firing->apply(image, always);
    EXPECT_EQ(cv::norm(kept, image, cv::NORM_INF), 0) << name;
    EXPECT_GT(cv::norm(changed, image, cv::NORM_L1), 0) << name;
    EXPECT_EQ(never(), always()) << name;
    EXPECT_EQ(cv::norm(firing->apply(image, again), changed, cv::NORM_INF), 0) << name;
    EXPECT_GT(cv::norm(firing->apply(image, other), changed, cv::NORM_L1), 0) << name;
    EXPECT_EQ(firing->output_size(cv::Size(40, 30)), cv::Size(40, 30)) << name;
  }
}

// The q-th percentile (nearest rank) of the gray levels above 10.
double head_percentile(const cv::Mat& image, double q) {
  std::vector<int> values;
  for (int y = 0; y < image.rows; ++y)
    for (int x = 0; x < image.cols; ++x)
      if (image.at<unsigned char>(y, x) > 10) values.push_back(image.at<unsigned char>(y, x));
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(std::lround(q / 100.0 * (values.size() - 1)))];
}

// A head whose gray levels spread from 40 to 200 (times `brightness`).
cv::Mat graded_head(double brightness) {
  cv::Mat image(80, 80, CV_8UC1, cv::Scalar(0));
  for (int y = 0; y < 80; ++y)
    for (int x = 0; x < 80; ++x)
      if ((x - 40) * (x - 40) + (y - 40) * (y - 40) < 34 * 34)
        image.at<unsigned char>(y, x) = cv::saturate_cast<unsigned char>((40 + 2 * x) * brightness);
  return image;
}

TEST(StandardizeHistogram, BringsTwoBrightnessesToTheSamePercentiles) {
  const cv::Mat dark = graded_head(0.6), bright = graded_head(1.2);
  ASSERT_GT(head_percentile(bright, 50) - head_percentile(dark, 50), 40);  // very different before
  auto stage = make_transform("standardize_histogram");
  EXPECT_FALSE(stage->is_random());
  std::mt19937_64 rng(1);
  const cv::Mat a = stage->apply(dark, rng), b = stage->apply(bright, rng);
  ASSERT_EQ(a.type(), CV_8UC1);
  EXPECT_EQ(a.size(), dark.size());
  // The defaults move percentiles 1, 50 and 99 to 20, 100 and 230.
  const std::vector<std::pair<double, double>> landmarks{{1, 20}, {50, 100}, {99, 230}};
  for (const auto& [q, target] : landmarks) {
    EXPECT_NEAR(head_percentile(a, q), target, 3) << q;
    EXPECT_NEAR(head_percentile(b, q), target, 3) << q;
  }
  EXPECT_EQ(cv::countNonZero(a & (dark == 0)), 0);  // the background stays black
  EXPECT_EQ(cv::countNonZero(b & (bright == 0)), 0);
  // Dark background noise, at or below the threshold (10), is left alone.
  cv::Mat noisy = dark.clone();
  noisy(cv::Rect(0, 0, 4, 4)).setTo(7);
  noisy(cv::Rect(76, 76, 4, 4)).setTo(10);
  const cv::Mat c = stage->apply(noisy, rng);
  EXPECT_EQ(c.at<unsigned char>(1, 1), 7);
  EXPECT_EQ(c.at<unsigned char>(78, 78), 10);
  EXPECT_EQ(cv::norm(c(cv::Rect(20, 20, 40, 40)), a(cv::Rect(20, 20, 40, 40)), cv::NORM_INF), 0);

  // Chosen landmarks; a colour image gets one curve on every channel.
  cv::Mat colour;
  cv::cvtColor(dark, colour, cv::COLOR_GRAY2BGR);
  cv::Mat mapped = run("standardize_histogram", colour,
                       {{"percentiles", std::vector<double>{50}}, {"targets", std::vector<double>{150}}});
  ASSERT_EQ(mapped.type(), CV_8UC3);
  std::vector<cv::Mat> planes;
  cv::split(mapped, planes);
  EXPECT_NEAR(head_percentile(planes[1], 50), 150, 3);
  EXPECT_EQ(cv::norm(planes[0], planes[2], cv::NORM_INF), 0);
}

TEST(StandardizeHistogram, LeavesAHeadlessImageAndRefusesBadSettings) {
  cv::Mat blank(16, 16, CV_8UC1, cv::Scalar(5));  // all background
  EXPECT_EQ(cv::norm(run("standardize_histogram", blank), blank, cv::NORM_INF), 0);
  auto stage = make_transform("standardize_histogram");
  EXPECT_EQ(stage->output_size(cv::Size(30, 20)), cv::Size(30, 20));
  ASSERT_TRUE(stage->placement(blank).has_value());
  EXPECT_EQ(cv::norm(cv::Mat(*stage->placement(blank)), cv::Mat(identity_placement()), cv::NORM_INF), 0);
  EXPECT_THROW(run("standardize_histogram", cv::Mat(8, 8, CV_32F, cv::Scalar(0))), Error);
  EXPECT_THROW(make_transform("standardize_histogram", {{"percentiles", std::vector<double>{50, 10}},
                                                        {"targets", std::vector<double>{100, 200}}}),
               Error);
  EXPECT_THROW(make_transform("standardize_histogram", {{"percentiles", std::vector<double>{10, 50}},
                                                        {"targets", std::vector<double>{100}}}),
               Error);
  EXPECT_THROW(make_transform("standardize_histogram", {{"targets", std::vector<double>{100, 90, 200}}}), Error);
  EXPECT_THROW(make_transform("standardize_histogram", {{"targets", std::vector<double>{30, 100, 200}},
                                                        {"threshold", 40.0}}),
               Error);
}

TEST(RandomCrop, TakesAWindowOfTheSource) {
  cv::Mat image = ramp(10, 10);
  cv::Mat crop = run("random_crop", image, {{"size", std::int64_t{4}}}, 9);
  ASSERT_EQ(crop.size(), cv::Size(4, 4));
  cv::Mat match;
  cv::matchTemplate(image, crop, match, cv::TM_SQDIFF);
  double best;
  cv::minMaxLoc(match, &best);
  EXPECT_EQ(best, 0.0);
  EXPECT_THROW(run("random_crop", image, {{"size", std::int64_t{12}}}), Error);
  cv::Mat padded = run("random_crop", image, {{"size", std::int64_t{12}}, {"pad_if_needed", true}});
  EXPECT_EQ(padded.size(), cv::Size(12, 12));
}

TEST(Transforms, RandomStagesDrawOnlyFromTheirGenerator) {
  // Two runs from equal generators give equal images, and leave the
  // generators in the same state: nothing else (time, global RNG) is used.
  cv::Mat image = ramp(32, 32, CV_8UC3);
  for (const char* name : {"random_flip", "random_rotate", "random_affine", "random_brightness_contrast",
                           "gaussian_noise", "random_crop"}) {
    auto transform = make_transform(name, {});
    if (std::string(name) == "random_crop") transform = make_transform(name, {{"size", std::int64_t{16}}});
    std::mt19937_64 a(77), b(77);
    cv::Mat x = transform->apply(image, a), y = transform->apply(image, b);
    EXPECT_EQ(cv::norm(x, y, cv::NORM_INF), 0) << name;
    EXPECT_EQ(a(), b()) << name;
  }
}

}  // namespace
}  // namespace cerebra::testing
