// A well-behaved plugin: one transform with a full schema.
#include "cerebra/plugin_abi.h"
#include "cerebra/transform.h"

namespace {

class Invert : public cerebra::Transform {
 public:
  explicit Invert(const cerebra::Parameters& parameters) : level_(parameters.get_int("level")) {}
  bool is_random() const override { return false; }
  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override {
    cv::Mat out;
    cv::subtract(cv::Scalar::all(static_cast<double>(level_)), image, out);
    return out;
  }

 private:
  std::int64_t level_;
};

void register_components(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_int("level", 255, "Value that pixels are subtracted from").range(0, 255);
  schema.add_string("mode", "full", "How much to invert").one_of({"full", "half"});
  registry.add<Invert>(cerebra::kinds::transform, "test_invert", "Inverts intensities (test plugin)",
                       schema);
}

}  // namespace

CEREBRA_PLUGIN("test_good", "1.2.3", "A plugin that loads", register_components)
