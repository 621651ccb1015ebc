// An example callback built outside the Cerebra tree: writes each finished
// epoch's training and validation loss to a CSV file. Callbacks see the run
// through cerebra/callback.h, which needs no torch, so this compiles quickly.
#include <fstream>

#include "cerebra/callback.h"
#include "cerebra/plugin_abi.h"

namespace {

class EpochCsv : public cerebra::Callback {
 public:
  explicit EpochCsv(const cerebra::Parameters& p) : file_(p.get_string("file")) {}

  void on_run_start(cerebra::TrainingSession&) override { std::ofstream(file_) << "epoch,train_loss,val_loss\n"; }

  void on_epoch_end(cerebra::TrainingSession& session) override {
    const auto& figures = session.state().figures;
    std::ofstream(file_, std::ios::app) << figures["epoch"].get<int>() << "," << figures["train_loss"].get<double>()
                                        << "," << figures["val_loss"].get<double>() << "\n";
  }

 private:
  std::string file_;
};

void register_components(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_required("file", cerebra::ParameterType::Path, "CSV file that receives one row per epoch");
  registry.add<EpochCsv>(cerebra::kinds::callback, "epoch_csv", "Writes each epoch's losses to a CSV file", schema);
}

}  // namespace

CEREBRA_PLUGIN("epoch_csv", "1.0.0", "Example callback built outside the Cerebra tree", register_components)
