// Any labelled image collection laid out as one folder per class, for
// datasets this project has never seen.
#include <algorithm>

#include "../class_folders.h"
#include "cerebra/plugin_abi.h"

namespace {

class ImageFolder : public cerebra::Dataset {
 public:
  explicit ImageFolder(const cerebra::Parameters& p)
      : root_(p.get_string("root")), positive_(p.get_string("positive_class")) {
    if (root_.empty()) throw cerebra::Error("image_folder: root is required (the folder holding one sub-folder per class)");
  }

  std::vector<std::string> class_names() const override {
    cerebra::folders::require_folder(root_, "image_folder root");
    std::vector<std::string> names = cerebra::list_subfolders(root_);
    if (names.empty()) throw cerebra::Error(root_ + ": no class folders (expected one sub-folder per class)");
    return names;
  }

  int positive_class() const override {
    if (positive_.empty()) return -1;
    std::vector<std::string> names = class_names();
    auto it = std::find(names.begin(), names.end(), positive_);
    if (it == names.end()) {
      throw cerebra::Error("image_folder: positive_class '" + positive_ + "' is not a class folder of " + root_ +
                           " (classes: " + cerebra::join(names) + ")");
    }
    return static_cast<int>(it - names.begin());
  }

  std::vector<cerebra::Sample> samples() const override {
    std::vector<std::string> names = class_names();
    std::vector<cerebra::Sample> samples;
    for (std::size_t label = 0; label < names.size(); ++label) {
      cerebra::folders::add_class_folder((std::filesystem::path(root_) / names[label]).string(),
                                         static_cast<int>(label), "", samples);
    }
    return samples;
  }

 private:
  std::string root_, positive_;
};

void register_image_folder(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_required("root", cerebra::ParameterType::Path,
                      "Folder with one sub-folder per class (class names are the sorted folder names); "
                      "a relative path is taken from the current directory");
  schema.add_string("positive_class", "", "Class folder counted as positive in two-class figures; empty for none");
  registry.add<ImageFolder>(cerebra::kinds::dataset, "image_folder",
                            "Images in one folder per class, for any new dataset", std::move(schema));
}

}  // namespace

CEREBRA_PLUGIN("image_folder", "1.0.0", "Dataset from one folder per class", register_image_folder)
