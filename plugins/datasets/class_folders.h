// Shared by the folder-based dataset plugins (compiled into each; not a
// plugin itself, as this folder has no CMakeLists.txt).
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cerebra/dataset.h"

namespace cerebra::folders {

inline void require_folder(const std::string& path, const std::string& what) {
  const std::string problem = missing_path_reason(path);
  if (problem == "no such file") throw Error(path + ": " + what + " not found");
  if (!problem.empty()) throw Error(path + ": " + what + ": " + problem);
  std::error_code error;
  if (!std::filesystem::is_directory(path, error)) throw Error(path + ": " + what + " is not a folder");
}

// Appends one sample per image in `folder`; an empty folder, or one holding
// no image at all, is an error naming it.
inline void add_class_folder(const std::string& folder, int label, const std::string& subset,
                             std::vector<Sample>& samples) {
  require_folder(folder, "class folder");
  std::vector<std::string> files = list_image_files(folder);
  if (files.empty()) {
    std::size_t others = 0;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
      (void)entry;
      ++others;
    }
    throw Error(others == 0 ? folder + ": class folder is empty"
                            : fmt::format("{}: class folder holds no images ({} other entries; "
                                          "image extensions: jpg, jpeg, png, bmp, tif, tiff, webp, "
                                          "pgm, ppm, ...)",
                                          folder, others));
  }
  for (auto& file : files) samples.push_back({std::move(file), label, subset});
}

// The class folders `expected` must all be under `root`; the error lists what
// is there instead.
inline void require_class_folders(const std::string& root, const std::vector<std::string>& expected,
                                  const std::string& dataset) {
  std::vector<std::string> found = list_subfolders(root);
  std::vector<std::string> missing;
  for (const auto& name : expected) {
    if (std::find(found.begin(), found.end(), name) == found.end()) missing.push_back(name);
  }
  if (!missing.empty()) {
    throw Error(fmt::format("{}: not a {} folder: missing {} (found: {})", root, dataset,
                            join(missing), join(found)));
  }
}

}  // namespace cerebra::folders
