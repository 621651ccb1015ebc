// Brain Tumor Classification (MRI), four classes: Training/ and, in the public
// release, Testing/, each with one folder per class.
#include <filesystem>

#include "../class_folders.h"
#include "cerebra/plugin_abi.h"

namespace {

const std::vector<std::string> kClasses = {"glioma_tumor", "meningioma_tumor", "no_tumor",
                                           "pituitary_tumor"};

class BrainTumor4Class : public cerebra::Dataset {
 public:
  explicit BrainTumor4Class(const cerebra::Parameters& p)
      : root_(cerebra::resolve_dataset_root(p.get_string("root"))),
        use_testing_(p.get_bool("use_testing_folder")) {}

  std::vector<std::string> class_names() const override { return kClasses; }

  std::vector<cerebra::Sample> samples() const override {
    cerebra::folders::require_folder(
        root_, "four-class dataset root (see datasets/brain-tumor-mri-4class.md; set $CEREBRA_DATA or root)");
    const std::string training = root_ + "/Training";
    cerebra::folders::require_folder(training, "Training folder");
    cerebra::folders::require_class_folders(training, kClasses, "four-class Training");
    std::vector<cerebra::Sample> samples;
    for (std::size_t label = 0; label < kClasses.size(); ++label) {
      cerebra::folders::add_class_folder(training + "/" + kClasses[label], static_cast<int>(label), "", samples);
    }
    const std::string testing = root_ + "/Testing";
    std::error_code error;
    // Without Testing/ (it is often held back) the split comes from Training/.
    if (use_testing_ && std::filesystem::is_directory(testing, error)) {
      cerebra::folders::require_class_folders(testing, kClasses, "four-class Testing");
      for (std::size_t label = 0; label < kClasses.size(); ++label) {
        cerebra::folders::add_class_folder(testing + "/" + kClasses[label], static_cast<int>(label), "test",
                                           samples);
      }
    }
    return samples;
  }

 private:
  std::string root_;
  bool use_testing_;
};

void register_brain_tumor_4class(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_path("root", "brain-tumor-mri-4class",
                  "Folder holding Training/ (and optionally Testing/); a relative path is taken under "
                  "$CEREBRA_DATA, or ./datasets/ when that is unset");
  schema.add_bool("use_testing_folder", true,
                  "When Testing/ exists, it is the test split; false ignores it and splits Training/ alone");
  registry.add<BrainTumor4Class>(
      cerebra::kinds::dataset, "brain_tumor_4class",
      "Brain Tumor Classification (MRI): glioma, meningioma, no tumor, pituitary", std::move(schema));
}

}  // namespace

CEREBRA_PLUGIN("brain_tumor_4class", "1.0.0", "Brain Tumor Classification (MRI), four classes",
               register_brain_tumor_4class)
