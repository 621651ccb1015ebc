// Finding image files: the one walker of dataset folders and of `predict`, and
// the reason a path that names no readable file gives.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <type_traits>

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

std::string missing_path_reason(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) return "";
  const int stat_error = errno;
  // stat() follows links; lstat() tells a link that leads nowhere from no file at all.
  if (stat_error == ELOOP) return "looping symbolic link";
  struct stat link {};
  if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
    std::error_code error;
    return "dangling symbolic link (to " + fs::read_symlink(path, error).string() + ")";
  }
  if (stat_error == ENOENT) return "no such file";
  return std::strerror(stat_error);
}

namespace {

bool is_hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';  // .DS_Store, editor droppings, .git
}

// Files and symbolic links with an image name are listed without following
// the link: one that dangles or loops is an unreadable file like any other,
// which the loader skips or stops on as configured, with that reason.
bool is_listed_image(const fs::directory_entry& entry) {
  std::error_code error;
  const fs::file_type type = entry.symlink_status(error).type();
  if (error || (type != fs::file_type::regular && type != fs::file_type::symlink)) return false;
  return is_image_file(entry.path().filename().string());
}

void require_listable(const std::string& folder) {
  std::error_code error;
  const std::string problem = missing_path_reason(folder);
  if (problem == "no such file") throw Error(folder + ": folder not found");
  if (!problem.empty()) throw Error(folder + ": " + problem);
  if (!fs::is_directory(folder, error)) throw Error(folder + ": not a folder");
}

// Entries of `folder` (and, for a recursive iterator, of its sub-folders, not
// through links) that `keep` accepts, hidden ones left out, in byte order.
template <class Iterator, class Keep>
std::vector<std::string> walk(const std::string& folder, Keep keep) {
  require_listable(folder);
  std::vector<std::string> found;
  std::error_code error;
  Iterator it(folder, fs::directory_options::skip_permission_denied, error);
  for (; !error && it != Iterator(); it.increment(error)) {
    if (is_hidden(it->path())) {
      if constexpr (std::is_same_v<Iterator, fs::recursive_directory_iterator>) it.disable_recursion_pending();
      continue;
    }
    if (keep(*it)) found.push_back(it->path().string());
  }
  if (error) throw Error(folder + ": cannot list folder: " + error.message());
  // Byte order, not locale collation: the same list on every machine.
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

std::vector<std::string> list_image_files(const std::string& folder, bool recursive) {
  return recursive ? walk<fs::recursive_directory_iterator>(folder, is_listed_image)
                   : walk<fs::directory_iterator>(folder, is_listed_image);
}

std::vector<std::string> list_subfolders(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& path : walk<fs::directory_iterator>(folder, [](const fs::directory_entry& entry) {
         std::error_code error;  // a link that loops or dangles is no folder
         return entry.is_directory(error);
       })) {
    names.push_back(fs::path(path).filename().string());
  }
  return names;
}

std::string resolve_dataset_root(const std::string& root) {
  fs::path path(root);
  if (path.is_absolute()) return path.lexically_normal().string();
  const char* data = std::getenv("CEREBRA_DATA");
  fs::path base = (data && *data) ? fs::path(data) : fs::path("datasets");
  return (base / path).lexically_normal().string();
}

}  // namespace cerebra
