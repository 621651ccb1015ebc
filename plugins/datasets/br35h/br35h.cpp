// Br35H (Brain Tumor Detection 2020): yes/ holds tumour slices, no/ healthy
// ones. pred/ is unlabelled and never becomes a training sample.
#include "../class_folders.h"
#include "cerebra/plugin_abi.h"

namespace {

class Br35h : public cerebra::Dataset {
 public:
  explicit Br35h(const cerebra::Parameters& p)
      : root_(cerebra::resolve_dataset_root(p.get_string("root"))) {}

  std::vector<std::string> class_names() const override { return {"no", "yes"}; }
  int positive_class() const override { return 1; }

  std::vector<cerebra::Sample> samples() const override {
    cerebra::folders::require_folder(root_, "Br35H root (see datasets/br35h.md; set $CEREBRA_DATA or root)");
    cerebra::folders::require_class_folders(root_, {"no", "yes"}, "Br35H");
    std::vector<cerebra::Sample> samples;
    cerebra::folders::add_class_folder(root_ + "/no", 0, "", samples);
    cerebra::folders::add_class_folder(root_ + "/yes", 1, "", samples);
    return samples;
  }

 private:
  std::string root_;
};

void register_br35h(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_path("root", "br35h",
                  "Folder holding yes/ and no/; a relative path is taken under $CEREBRA_DATA, or "
                  "./datasets/ when that is unset");
  registry.add<Br35h>(cerebra::kinds::dataset, "br35h",
                      "Br35H brain tumor detection (two classes: no, yes)", std::move(schema));
}

}  // namespace

CEREBRA_PLUGIN("br35h", "1.0.0", "Br35H: Brain Tumor Detection 2020 (yes/no)", register_br35h)
