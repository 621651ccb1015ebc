#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "cerebra/dataset.h"

namespace cerebra {

namespace fs = std::filesystem;

bool is_image_file(const std::string& path) {
  static const char* const extensions[] = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib",
                                           ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm",
                                           ".pnm", ".jp2", ".sr",  ".ras"};
  std::string extension = fs::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* known : extensions) {
    if (extension == known) return true;
  }
  return false;
}

std::vector<std::string> list_image_files(const std::string& folder) {
  std::error_code error;
  if (!fs::exists(folder, error)) throw Error(folder + ": folder not found");
  if (!fs::is_directory(folder, error)) throw Error(folder + ": not a folder");
  std::vector<std::string> files;
  fs::directory_iterator it(folder, error);
  if (error) throw Error(folder + ": cannot list folder: " + error.message());
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // .DS_Store, editor droppings
    if (!entry.is_regular_file(error) && !entry.is_symlink(error)) continue;
    if (!is_image_file(name)) continue;
    files.push_back(entry.path().string());
  }
  // Byte order, not locale collation: the same list on every machine.
  std::sort(files.begin(), files.end());
  return files;
}

std::string resolve_dataset_root(const std::string& root) {
  fs::path path(root);
  if (path.is_absolute()) return path.lexically_normal().string();
  const char* data = std::getenv("CEREBRA_DATA");
  fs::path base = (data && *data) ? fs::path(data) : fs::path("datasets");
  return (base / path).lexically_normal().string();
}

}  // namespace cerebra
