// Know the data before trusting a score: exact and near-duplicate groups,
// label conflicts, leakage across splits and datasets, unreadable files,
// statistics, and source clusters that a model could learn instead of the
// tumour. No torch here.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>

#include "cerebra/dataset.h"

namespace cerebra {

// Side of the gray thumbnail that near-duplicate confirmation compares:
// large enough that adjacent slices of one scan (which correlate above 0.97
// at 32 pixels) fall below the threshold, small enough to cache (docs/data.md).
inline constexpr int kThumbSide = 48;

// What the audit measures of one image, from one reduced-size decode.
struct ImageTraits {
  bool readable = false;
  std::string error;  // why not, in the loader's words
  int width = 0, height = 0, channels = 0;  // as stored (not as decoded at reduced scale)
  double mean = 0, spread = 0;              // gray level, 0..255
  double black_share = 0;                   // share of pixels at gray level 16 or below
  double border_mean = 0;                   // mean gray level of the outer frame (1/16 of each side)
  std::array<float, 8> histogram{};         // share of pixels in 8 equal gray-level bins
  std::uint64_t phash = 0;                  // DCT perceptual hash (64 bits)
  std::array<std::uint8_t, kThumbSide * kThumbSide> thumb{};  // gray, area-resized
};

// Measures a decoded 8-bit image (gray or BGR). `stored_width/height` are the
// file's own size when the decode was at a reduced scale (0: the image's).
ImageTraits measure_image(const cv::Mat& image, int stored_width = 0, int stored_height = 0);

// Hamming distance between two perceptual hashes.
int hamming(std::uint64_t a, std::uint64_t b);
// Pearson correlation of two thumbnails: 1 for the same picture whatever its
// brightness and contrast; a flat thumbnail correlates 1 only with a flat one.
double thumb_correlation(const ImageTraits& a, const ImageTraits& b);
// The best correlation of the thumbnails' centres when either is enlarged by
// up to 1/0.92 and shifted by up to 2 pixels: a copy cropped by a few percent
// lines up again with its original.
double aligned_correlation(const ImageTraits& a, const ImageTraits& b);

// Thresholds of a near duplicate, chosen on the test's cases and on the
// shared data (docs/data.md).
struct NearOptions {
  int max_hamming = 10;            // candidate pairs from the hash index (distances are even)
  double min_correlation = 0.99;   // confirmed on the thumbnails as they are,
  double min_aligned = 0.98;       // or once aligned (a cropped copy)
};
bool near_duplicates(const ImageTraits& a, const ImageTraits& b, const NearOptions& options);

// Traits of many images, cached by content fingerprint in `cache_dir`
// (empty: no cache). Decodes on `threads` threads (0: the machine's).
class TraitStore {
 public:
  explicit TraitStore(std::string cache_dir);
  ~TraitStore();
  TraitStore(const TraitStore&) = delete;
  TraitStore& operator=(const TraitStore&) = delete;

  // Fingerprints and traits of `samples`, in order. A sample whose file
  // cannot be read at all gets an empty fingerprint and readable = false.
  void measure(const Dataset& dataset, const std::vector<Sample>& samples, int threads,
               std::vector<std::string>& fingerprints, std::vector<ImageTraits>& traits);
  // Writes new entries back to the cache (atomically); a failure to write
  // is returned as a message, never thrown: the cache only saves time.
  std::string save();
  std::size_t hits() const;
  std::size_t misses() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// How samples are kept together when a dataset is split.
enum class GroupBy { None, Exact, Near };
GroupBy parse_group_by(const std::string& text);  // throws Error naming the choices

// Group index of each image from its fingerprint and traits: equal index,
// same group. The index is the group's smallest member. Near groups come
// from a BK-tree over the hashes (candidates within the Hamming radius, then
// confirmed on thumbnails), so memory stays linear in the image count.
std::vector<std::size_t> group_ids(const std::vector<std::string>& fingerprints,
                                   const std::vector<ImageTraits>& traits, GroupBy by, const NearOptions& options);

// Group index of each sample: equal index, same group. None gives every
// sample its own; Exact joins equal fingerprints; Near also joins near
// duplicates. Unreadable samples stay in their exact group.
std::vector<std::size_t> group_samples(const Dataset& dataset, const std::vector<Sample>& samples, GroupBy by,
                                       const std::string& cache_dir, const NearOptions& options = {});

// Source clusters, as the audit finds them: k-means over each readable
// image's acquisition traits (log width, height and aspect; mean and spread
// of gray level; black share; border mean), z-scored over the images given,
// with k = `clusters` or, when 0, chosen by silhouette between 2 and 8.
// The same traits in the same order give the same clusters. Throws Error
// when fewer readable images than clusters (or 2) are given.
struct SourceClusters {
  std::vector<int> cluster;                 // per image, 0..k-1; -1 for an unreadable one
  std::vector<std::vector<double>> centres;  // per cluster: mean z-scored traits
};
SourceClusters cluster_sources(const std::vector<ImageTraits>& traits, int clusters);

// Which of `samples` are the same image as, or a near copy of, an image of
// `others` (each a dataset and its samples): a model trained on `dataset` and
// tested on another must not have seen the test images.
struct OtherImages {
  const Dataset* dataset;
  std::vector<Sample> samples;
};
std::vector<bool> overlapping(const Dataset& dataset, const std::vector<Sample>& samples,
                              const std::vector<OtherImages>& others, const std::string& cache_dir,
                              const NearOptions& options = {});

// One collection of images to audit: a dataset's samples (labels as the
// dataset gives them; label -1 for images outside its classes, with `folder`
// naming where they lie) and, optionally, each file's split.
struct AuditSource {
  std::string name;  // what the report calls it: the dataset type or folder
  std::shared_ptr<const Dataset> dataset;
  std::vector<std::string> class_names;
  std::vector<Sample> samples;
  std::map<std::string, std::string> split_of;  // sample id -> train/val/test; empty when unsplit
  std::string split_note = "";  // how the split was made, when worth saying (a source-held-out split)
  // Source clusters for this source: a source-held-out pipeline's own
  // [split] source_clusters, so that the audit's clusters are the split's;
  // -1: AuditOptions::clusters.
  int clusters = -1;
};

struct AuditOptions {
  NearOptions near;
  std::string cache_dir = ".cache/cerebra";
  int threads = 0;
  int clusters = 0;  // 0: choose by silhouette between 2 and 8
};

// Everything found, as JSON (the schema is documented in docs/data.md): the
// terminal summary and the HTML page are both drawn from it.
nlohmann::json audit(const std::vector<AuditSource>& sources, const AuditOptions& options);

// A file name's pattern: digits collapsed to '#', so "gg (12).jpg" -> "gg (#).jpg".
std::string name_pattern(const std::string& path);

}  // namespace cerebra
