// Checkpoints: the model, the optimizer, the random state and the state of
// every training component, so a resumed run continues exactly.
#include <sstream>

#include "cerebra/files.h"

#include "trainer.h"

namespace cerebra::detail {

using nlohmann::json;

namespace {

// A JSON document stored as a byte tensor (archives hold tensors only).
torch::Tensor json_tensor(const json& document) {
  const std::string text = document.dump();
  return torch::tensor(std::vector<std::uint8_t>(text.begin(), text.end()), torch::kUInt8);
}

json tensor_json(const torch::Tensor& tensor, const std::string& path) {
  auto bytes = tensor.to(torch::kCPU).contiguous();
  const auto* data = bytes.data_ptr<std::uint8_t>();
  try {
    return json::parse(std::string(data, data + bytes.numel()));
  } catch (const json::exception& error) {
    throw Error(path + ": the training state in the checkpoint is damaged (" + error.what() + ")");
  }
}

}  // namespace

json Trainer::training_state() const {
  json state;
  state["epoch"] = state_.epoch;
  state["best_value"] = std::isnan(state_.best_value) ? json(nullptr) : json(state_.best_value);
  state["best_epoch"] = state_.best_epoch;
  state["figures"] = state_.figures;  // this epoch's metrics line, restored if a crash lost it
  state["schedule"] = schedule_->state();
  if (scaler_) state["loss_scale"] = {{"scale", scaler_->current_scale()}, {"good_steps", scaler_->good_steps()}};
  state["callbacks"] = json::array();
  for (const auto& callback : callbacks_) state["callbacks"].push_back(callback->state());
  return state;
}

void Trainer::restore_training_state(const json& saved) {
  state_.epoch = saved.at("epoch").get<int>();
  state_.best_value = saved.at("best_value").is_number() ? saved.at("best_value").get<double>() : std::nan("");
  state_.best_epoch = saved.at("best_epoch").get<int>();
  state_.figures = saved.value("figures", json());
  schedule_->restore(saved.at("schedule"));
  // A run resumed in fp16 from a checkpoint of another precision starts the scale afresh.
  if (scaler_ && saved.contains("loss_scale")) {
    scaler_->restore(saved["loss_scale"].at("scale").get<double>(), saved["loss_scale"].at("good_steps").get<std::int64_t>());
  }
  const json& callbacks = saved.at("callbacks");
  if (callbacks_.empty() && parallel_) return;  // a rank of a job other than 0 runs no callbacks
  if (callbacks.size() != callbacks_.size()) {
    throw Error("the checkpoint holds the state of " + std::to_string(callbacks.size()) + " callbacks but the pipeline has " +
                std::to_string(callbacks_.size()));
  }
  for (std::size_t i = 0; i < callbacks_.size(); ++i) callbacks_[i]->restore(callbacks[i]);
}

void Trainer::save_checkpoint(const std::string& name) {
  torch::serialize::OutputArchive archive, model_archive, optimizer_archive;
  built_.model->save(model_archive);
  optimizer_->save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("training_state", json_tensor(training_state()));
  archive.write("torch_rng", at::detail::getDefaultCPUGenerator().get_state());
  // Serialised in memory, then written by the one atomic writer (temp file,
  // fsync, rename, fsync of the folder): a full disk leaves the old checkpoint.
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomically(directory_.checkpoint_file(name), bytes.str());
}

void Trainer::load_checkpoint(const std::string& name, bool with_training_state) {
  const std::string path = directory_.checkpoint_file(name);
  torch::serialize::InputArchive archive;
  read_checkpoint(path, device_, archive);
  load_model_state(*built_.model, archive, path);
  if (!with_training_state) return;
  torch::serialize::InputArchive optimizer_archive;
  archive.read("optimizer", optimizer_archive);
  optimizer_->load(optimizer_archive);
  // Each read needs a fresh tensor: reading into a used one resizes its storage.
  torch::Tensor saved_state, rng;
  if (!archive.try_read("training_state", saved_state)) {
    throw Error(path + ": written by an older Cerebra (no training state); it can be evaluated but not resumed");
  }
  try {
    restore_training_state(tensor_json(saved_state, path));
  } catch (const json::exception& error) {
    throw Error(path + ": the training state does not fit this pipeline (" + error.what() + ")");
  } catch (const Error& error) {
    throw Error(path + ": " + error.what());
  }
  archive.read("torch_rng", rng);
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(rng);
}

}  // namespace cerebra::detail
