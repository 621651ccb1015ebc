// `cerebra explain`: Grad-CAM overlays and cams.jsonl for images, or the
// sanity checks of a run's explanations (docs/explain.md).
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/explain.h"
#include "cerebra/explain_sanity.h"
#include "cerebra/files.h"
#include "cerebra/host.h"
#include "commands.h"
#include "table.h"

namespace cerebra::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json point_json(const cv::Point2d& point) { return {{"x", point.x}, {"y", point.y}}; }

// "0003-scan-model.png": numbered, so images of the same name in different
// folders do not overwrite each other.
std::string overlay_name(std::size_t index, const std::string& file, const char* view) {
  return fmt::format("{:04d}-{}-{}.png", index + 1, fs::path(file).stem().string(), view);
}

void write_png(const fs::path& path, const std::vector<unsigned char>& bytes) {
  write_file_atomically(path.string(), std::string(bytes.begin(), bytes.end()));
}

// The cams.jsonl line of one image, after writing its overlays into `out`.
json explanation_line(const Explanation& e, std::size_t index, const std::vector<std::string>& classes,
                      CamMethod method, const fs::path& out) {
  if (!e.error.empty()) return {{"image", e.file}, {"error", e.error}};
  json line = {{"image", e.file},
               {"method", to_string(method)},
               {"predicted", classes[static_cast<std::size_t>(e.predicted)]},
               {"probability", e.probability},
               {"explained", classes[static_cast<std::size_t>(e.explained)]},
               {"explained_probability", e.explained_probability},
               {"peak_model", point_json(e.peak)},
               {"peak", e.peak_original ? point_json(*e.peak_original) : json(nullptr)},
               {"head_energy_share", e.head_energy_share ? json(*e.head_energy_share) : json(nullptr)}};
  const fs::path model_png = out / overlay_name(index, e.file, "model");
  write_png(model_png, overlay_png(e, false));
  line["overlay_model"] = model_png.string();
  if (!e.cam_on_original.empty()) {
    const fs::path original_png = out / overlay_name(index, e.file, "original");
    write_png(original_png, overlay_png(e, true));
    line["overlay_original"] = original_png.string();
  }
  if (!e.note.empty()) line["note"] = e.note;
  return line;
}

std::string optional_number(const json& value, const char* format) {
  return value.is_number() ? fmt::format(fmt::runtime(format), value.get<double>()) : "-";
}

void print_table(const std::vector<json>& lines) {
  Table table({"image", "predicted", "p", "explained", "peak (x, y)", "head share", "error"});
  for (const auto& line : lines) {
    if (line.contains("error")) {
      table.add({line["image"], "", "", "", "", "", line["error"]});
      continue;
    }
    const json& peak = line["peak"].is_null() ? line["peak_model"] : line["peak"];
    table.add({line["image"], line["predicted"], optional_number(line["probability"], "{:.4f}"), line["explained"],
               fmt::format("{:.0f}, {:.0f}", peak["x"].get<double>(), peak["y"].get<double>()),
               optional_number(line["head_energy_share"], "{:.3f}"), ""});
  }
  std::cout << table.render();
}

int explain_files(TrainedRun& run, const std::vector<std::string>& paths, const ExplainCommandOptions& options) {
  cerebra::ExplainOptions explain;
  explain.method = parse_cam_method(options.method);
  explain.target_class = options.target_class;
  const std::vector<Explanation> explanations = explain_images(run, expand_image_paths(paths), explain);
  const fs::path out = options.out.empty() ? fs::path(run.run_dir()) / "explain" : fs::path(options.out);
  fs::create_directories(out);
  std::vector<json> lines;
  std::string jsonl;
  std::size_t failed = 0;
  for (std::size_t i = 0; i < explanations.size(); ++i) {
    lines.push_back(explanation_line(explanations[i], i, run.class_names(), explain.method, out));
    jsonl += lines.back().dump() + "\n";
    if (!explanations[i].error.empty()) {
      ++failed;
      std::cerr << "cerebra explain: " << explanations[i].error << "\n";
    }
  }
  write_file_atomically((out / "cams.jsonl").string(), jsonl);
  if (options.json) std::cout << jsonl;
  else print_table(lines);
  if (!options.json) std::cout << "\nwritten: " << (out / "cams.jsonl").string() << " and the overlays beside it\n";
  if (failed > 0) std::cerr << fmt::format("cerebra explain: {} of {} file(s) could not be explained\n", failed, lines.size());
  return failed < lines.size() ? kOk : kRunFailed;
}

json localisation_json(const std::optional<LocalisationScore>& score) {
  if (!score) return nullptr;
  return {{"images", score->images},
          {"energy_in_lesion", score->energy_in_lesion},
          {"energy_chance", score->energy_chance},
          {"pointing_hits", score->pointing_hits},
          {"pointing_chance", score->pointing_chance}};
}

json sanity_json(const SanityReport& report, const std::string& run_dir, CamMethod method) {
  json out = {{"run", run_dir}, {"method", to_string(method)}, {"source", report.source},
              {"images", report.images}, {"skipped", report.skipped},
              {"trained_localisation", localisation_json(report.trained)}, {"randomisation", json::array()}};
  for (const auto& step : report.steps) {
    out["randomisation"].push_back({{"randomised", step.groups}, {"spearman", step.spearman}, {"ssim", step.ssim},
                                    {"localisation", localisation_json(step.localisation)}});
  }
  return out;
}

void print_sanity(const SanityReport& report, CamMethod method) {
  std::cout << fmt::format("Model randomisation, cascading from the head (Adebayo et al. 2018): {}, {} images of the {}\n\n",
                           to_string(method), report.images, report.source);
  const bool localised = report.trained.has_value();
  std::vector<std::string> header{"randomised up to", "Spearman", "SSIM"};
  if (localised) header.insert(header.end(), {"energy in lesion", "pointing game"});
  Table table(header);
  auto row = [&](const std::string& name, double spearman, double ssim, const std::optional<LocalisationScore>& l) {
    std::vector<std::string> cells{name, fmt::format("{:.3f}", spearman), fmt::format("{:.3f}", ssim)};
    if (localised) {
      cells.push_back(l ? fmt::format("{:.3f}", l->energy_in_lesion) : "-");
      cells.push_back(l ? fmt::format("{:.3f}", l->pointing_hits) : "-");
    }
    table.add(cells);
  };
  row("(trained)", 1.0, 1.0, report.trained);
  for (const auto& step : report.steps) row(step.groups.back(), step.spearman, step.ssim, step.localisation);
  std::cout << table.render();
  if (localised) {
    std::cout << fmt::format(
        "\nLocalisation over {} images with a lesion in view. Chance: {:.3f} of the energy (lesion area share),\n"
        "{:.3f} of the peaks (area share of the lesion grown by {:.0f}% of the side, the pointing game's tolerance)\n",
        report.trained->images, report.trained->energy_chance, report.trained->pointing_chance,
        100.0 * kPointingTolerance);
  }
  for (const auto& skipped : report.skipped) std::cerr << "cerebra explain: skipped " << skipped << "\n";
}

int explain_sanity(TrainedRun& run, const ExplainCommandOptions& options) {
  SanityOptions sanity;
  sanity.method = parse_cam_method(options.method);
  sanity.data = options.data;
  sanity.images = options.images;
  sanity.seed = static_cast<std::uint64_t>(run.pipeline().section("run").get_int("seed"));
  const SanityReport report = sanity_check(run, sanity);
  if (options.json) std::cout << sanity_json(report, run.run_dir(), sanity.method).dump(2) << "\n";
  else print_sanity(report, sanity.method);
  return kOk;
}

}  // namespace

int command_explain(const CommonOptions& common, const std::string& run_dir, const std::vector<std::string>& paths,
                    const ExplainCommandOptions& options) {
  int exit_code = kOk;
  auto host = open_host(common, false, exit_code);
  if (!host) return exit_code;
  try {
    TrainedRun run(run_dir, host->registry(), {options.device, std::nullopt});
    if (!options.target_class.empty()) {
      try {
        class_index(run.class_names(), options.target_class);
      } catch (const Error& error) {
        std::cerr << "cerebra explain: --class: " << error.what() << "\n";
        return kBadUsage;
      }
    }
    return options.sanity ? explain_sanity(run, options) : explain_files(run, paths, options);
  } catch (const std::exception&) {
    return run_failure("explain", run_dir);
  }
}

}  // namespace cerebra::cli
