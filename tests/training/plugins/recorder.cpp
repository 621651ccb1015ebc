// A callback that writes every hook call, with what it could read of the
// run's state, one line per call to the file named by its `file` parameter.
#include <fstream>

#include <fmt/format.h>

#include "cerebra/callback.h"
#include "cerebra/plugin_abi.h"
#include "cerebra/run_directory.h"

namespace {

class Recorder : public cerebra::Callback {
 public:
  explicit Recorder(const cerebra::Parameters& p) : file_(p.get_string("file")) {}

  void on_run_start(cerebra::TrainingSession& s) override {
    write(fmt::format("run_start epochs={} dir={}", s.state().epochs, !s.directory().path().empty()));
  }
  void on_epoch_start(cerebra::TrainingSession& s) override { write(fmt::format("epoch_start {}", s.state().epoch + 1)); }
  void on_batch_start(cerebra::TrainingSession& s) override { write(fmt::format("batch_start {}", s.state().batch)); }
  void on_batch_end(cerebra::TrainingSession& s) override {
    write(fmt::format("batch_end {} seen={}", s.state().batch, s.state().images_seen));
  }
  void on_epoch_end(cerebra::TrainingSession& s) override {
    const auto& figures = s.state().figures;
    write(fmt::format("epoch_end {} figures_epoch={} has_val_loss={}", s.state().epoch, figures["epoch"].get<int>(),
                      figures.contains("val_loss")));
  }
  void on_run_end(cerebra::TrainingSession& s) override {
    write(fmt::format("run_end {} summary_status={}", s.state().status, s.state().summary["status"].get<std::string>()));
  }

 private:
  void write(const std::string& line) { std::ofstream(file_, std::ios::app) << line << "\n"; }
  std::string file_;
};

void register_components(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_required("file", cerebra::ParameterType::Path, "Where the calls are written");
  registry.add<Recorder>(cerebra::kinds::callback, "test_recorder", "Records every hook call", schema);
}

}  // namespace

CEREBRA_PLUGIN("test_recorder", "1.0.0", "Test: records every callback hook", register_components)
