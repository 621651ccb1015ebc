// Interface of `dataset` components: a list of labelled samples and a way to
// decode each one. No torch here: datasets deal in OpenCV images.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "cerebra/registry.h"

namespace cerebra {

struct Sample {
  std::string id;      // a file path, or an identifier for generated images
  int label = -1;      // index into class_names(); -1 when unlabelled
  std::string subset;  // a split the dataset itself fixes ("test" for a Testing/ folder), or ""
};

// What the loader will do with a decoded image, so that a dataset may decode
// less of it. When min_width and min_height are set, the first preprocess
// stage only shrinks the image to that size (a resize), and a dataset may
// return the image at a reduced scale as long as both sides stay at least that
// large (JPEG decodes at 1/2, 1/4 or 1/8 scale for a fraction of the work).
// Ignoring the hint is always correct.
struct LoadHint {
  int min_width = 0, min_height = 0;
};

class Dataset : public Component {
 public:
  ~Dataset() override;

  virtual std::vector<std::string> class_names() const = 0;
  // Index of the positive class for two-class figures, or -1.
  virtual int positive_class() const { return -1; }
  // Every sample. Throws Error naming the path for a missing root or an empty
  // class folder.
  virtual std::vector<Sample> samples() const = 0;
  // Whether the dataset can list its images (`cerebra validate`): throws
  // Error naming the path when it cannot. The default lists them; a dataset
  // whose listing is costly (the pool, which splits and audits its sources)
  // checks only what listing needs.
  virtual void check() const { samples(); }
  // The decoded image: 8-bit, 1 or 3 channels (BGR). Throws Error naming the
  // sample when it cannot be read. The default reads `sample.id` as a file
  // with read_image(), honouring the hint.
  virtual cv::Mat load(const Sample& sample, const LoadHint& hint) const;
  cv::Mat load(const Sample& sample) const { return load(sample, LoadHint{}); }
  // Identifies the content (byte-identical files give the same value). The
  // default hashes the file's bytes.
  virtual std::string fingerprint(const Sample& sample) const;
  // Where the lesion lies in the image load() gives: CV_8U at the image's
  // size, 255 inside the lesion, all zero for an image without one. Empty,
  // the default, when the dataset does not know (most real data). Explanation
  // sanity checks score localisation with it (`cerebra explain --sanity`).
  virtual cv::Mat lesion_mask(const Sample& sample) const {
    (void)sample;
    return {};
  }
};

// Reads any image OpenCV can decode (grayscale, RGB, RGBA, 16-bit, palette)
// and returns 8-bit gray or BGR. Throws Error naming the file and the problem.
// With a hint, a gray or colour JPEG larger than twice the hinted size is
// decoded at the smallest of 1/2, 1/4, 1/8 scale that keeps both sides at
// least the hinted size; other files decode in full.
cv::Mat read_image(const std::string& path, const LoadHint& hint = {});

// The width and height a JPEG's frame header or a PNG's IHDR declares, read
// from the file's first bytes without decoding; false for other formats or a
// header that cannot be parsed.
bool stored_image_size(const std::string& path, int& width, int& height);

// Hex digest of a file's bytes (64-bit FNV-1a over the content plus its size).
std::string hash_file(const std::string& path);

// Helpers for folder-based dataset plugins.

// True when the extension (case-insensitive) is one OpenCV decodes: jpg, jpeg,
// jpe, png, bmp, dib, tif, tiff, webp, pgm, ppm, pbm, pnm, jp2, sr, ras.
bool is_image_file(const std::string& path);
// The one walker of image folders (datasets, `eval --data`, `predict`): image
// files inside `folder` (with `recursive`, in its sub-folders too, never
// through a link), hidden entries skipped, sorted by their byte string so the
// order is the same on every machine. A symbolic link with an image name is
// listed even when it dangles or loops, so that reading it reports why
// (missing_path_reason) and on_bad_file decides. Throws Error naming the
// folder when it is missing, is not a folder or cannot be listed.
std::vector<std::string> list_image_files(const std::string& folder, bool recursive = false);
// Names of the sub-folders of `folder` (links to folders included; links that
// dangle or loop left out), hidden ones skipped, in byte order.
std::vector<std::string> list_subfolders(const std::string& folder);
// Why `path` names nothing that can be opened: "looping symbolic link",
// "dangling symbolic link (to TARGET)", "no such file" or the system's reason;
// "" when it exists.
std::string missing_path_reason(const std::string& path);
// Where a dataset's `root` parameter points: an absolute path as it is; a
// relative one under $CEREBRA_DATA when that is set, else under ./datasets/.
std::string resolve_dataset_root(const std::string& root);

}  // namespace cerebra
