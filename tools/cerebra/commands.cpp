#include "commands.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/comparison.h"
#include "cerebra/dataset.h"
#include "cerebra/evaluate.h"
#include "cerebra/host.h"
#include "cerebra/pipeline.h"
#include "cerebra/run.h"
#include "architecture_view.h"
#include "cerebra/run_directory.h"
#include "compare_statistics.h"
#include "table.h"

namespace cerebra::cli {

int run_failure(const std::string& verb, const std::string& run_dir) {
  try {
    throw;
  } catch (const ConfigError& error) {
    for (const auto& diagnostic : error.diagnostics()) std::cerr << diagnostic.to_string() << "\n";
    std::cerr << "cerebra " << verb << ": " << run_dir << "/pipeline.toml no longer validates\n";
  } catch (const std::exception& error) {
    std::cerr << "cerebra " << verb << ": error: " << brief(error) << "\n";
  }
  return kRunFailed;
}

namespace {

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

nlohmann::json component_json(const Registry& registry, const ComponentInfo& info) {
  nlohmann::json out = {{"kind", info.kind},           {"name", info.name},
                        {"summary", info.summary},     {"plugin", info.plugin_name},
                        {"plugin_file", info.plugin_file}, {"parameters", info.schema.to_json()}};
  if (info.kind == kinds::architecture) out["architecture"] = architecture_json(registry, info);
  return out;
}

void print_schema(const Schema& schema) {
  Table table({"parameter", "type", "default", "allowed", "description"});
  for (const auto& spec : schema.parameters()) {
    table.add({spec.name, to_string(spec.type),
               spec.default_value ? format_value(*spec.default_value) : "(required)",
               spec.describe_constraint(), spec.doc});
  }
  std::cout << table.render();
}

}  // namespace

// Loads plugins and reports failures: warnings normally, fatal with --strict.
// Returns null (after printing) when the command must stop.
std::unique_ptr<Host> open_host(const CommonOptions& common, bool quiet_failures, int& exit_code) {
  HostOptions options;
  options.plugin_paths = common.plugin_paths;
  auto host = std::make_unique<Host>(options);
  auto failures = host->failures();
  if (!failures.empty() && (common.strict || !quiet_failures)) {
    for (const auto* failure : failures) {
      std::cerr << (common.strict ? "error: " : "warning: ") << failure->message
                << (common.strict ? "\n" : failure->status == PluginStatus::FolderUnreadable ? " (folder skipped)\n" : " (plugin skipped)\n");
    }
  }
  if (!failures.empty() && common.strict) {
    exit_code = kPluginFailure;
    return nullptr;
  }
  exit_code = kOk;
  return host;
}

int command_list(const CommonOptions& common, const std::string& kind) {
  int exit_code = kOk;
  const bool plugins = kind == "plugins";
  auto host = open_host(common, plugins, exit_code);
  if (!host) return exit_code;

  if (plugins) {
    const auto& records = host->loader().records();
    if (common.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& record : records) {
        out.push_back({{"file", record.file},
                       {"status", to_string(record.status)},
                       {"loaded", record.status == PluginStatus::Loaded},
                       {"message", record.message},
                       {"name", record.name},
                       {"version", record.version},
                       {"framework_version", record.framework_version},
                       {"description", record.description},
                       {"components", record.components}});
      }
      std::cout << out.dump(2) << "\n";
      return kOk;
    }
    Table table({"status", "plugin", "version", "built against", "file", "components or reason"});
    for (const auto& record : records) {
      bool loaded = record.status == PluginStatus::Loaded;
      table.add({to_string(record.status), record.name, record.version, record.framework_version, record.file,
                 loaded ? join(record.components) : record.message});
    }
    std::cout << table.render();
    if (records.empty()) {
      std::cout << "(no plugin files found; searched: "
                << join(PluginLoader::search_path({common.plugin_paths, true, true})) << ")\n";
    }
    return kOk;
  }

  const auto kinds = host->registry().kinds();
  if (!kind.empty() && std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    std::string message = "cerebra list: unknown kind '" + kind + "'";
    message += did_you_mean(kind, kinds);
    std::cerr << message << "; kinds: " << join(kinds) << ", or plugins\n";
    return kBadUsage;
  }
  auto components = host->registry().list(kind);
  if (common.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto* info : components) out.push_back(component_json(host->registry(), *info));
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  Table table({"kind", "name", "plugin file", "summary"});
  for (const auto* info : components) {
    table.add({info->kind, info->name, base_name(info->plugin_file), info->summary});
  }
  std::cout << table.render();
  return kOk;
}

int command_inspect(const CommonOptions& common, const std::string& name) {
  int exit_code = kOk;
  auto host = open_host(common, false, exit_code);
  if (!host) return exit_code;
  const Registry& registry = host->registry();

  std::vector<const ComponentInfo*> matches;
  auto slash = name.find('/');
  if (slash != std::string::npos) {
    if (const auto* info = registry.try_find(name.substr(0, slash), name.substr(slash + 1))) {
      matches.push_back(info);
    }
  } else {
    matches = registry.find_by_name(name);
  }

  const SectionSpec* section = find_section(name);
  if (matches.empty() && section && section->shape == SectionSpec::Shape::Settings) {
    if (common.json) {
      std::cout << nlohmann::json{{"section", section->name},
                                  {"doc", section->doc},
                                  {"parameters", section->schema.to_json()}}
                       .dump(2)
                << "\n";
    } else {
      std::cout << "[" << section->name << "] — pipeline section: " << section->doc << "\n\n";
      print_schema(section->schema);
    }
    return kOk;
  }
  if (matches.empty()) {
    std::vector<std::string> names;
    for (const auto* info : registry.list()) names.push_back(info->name);
    for (const auto& s : pipeline_sections()) {
      if (s.shape == SectionSpec::Shape::Settings) names.push_back(s.name);
    }
    std::string message = "cerebra inspect: no component or section named '" + name + "'";
    message += did_you_mean(name, names);
    std::cerr << message << "; `cerebra list` shows every component\n";
    return kBadUsage;
  }

  if (common.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto* info : matches) out.push_back(component_json(registry, *info));
    std::cout << (out.size() == 1 ? out[0] : out).dump(2) << "\n";
    return kOk;
  }
  bool first = true;
  for (const auto* info : matches) {
    if (!first) std::cout << "\n";
    first = false;
    std::cout << info->kind << " " << info->name << " — " << info->summary << "\n"
              << "plugin: " << info->plugin_name << " (" << info->plugin_file << ")\n\n";
    if (info->schema.parameters().empty()) {
      std::cout << "(no parameters)\n";
    } else {
      print_schema(info->schema);
    }
    if (info->kind == kinds::architecture) std::cout << "\n" << architecture_text(architecture_json(registry, *info));
  }
  return kOk;
}

namespace {

// Whether the pipeline's dataset can list its images (its root exists and has
// the folders it needs): "" when it can, else the dataset's reason and where
// relative roots are looked for.
std::string dataset_problem(const Pipeline& pipeline, const Registry& registry) {
  try {
    auto dataset = registry.create_as<Dataset>(kinds::dataset, pipeline.dataset.name, pipeline.dataset.parameters);
    dataset->class_names();
    dataset->check();
    return "";
  } catch (const std::exception& error) {
    const char* data = std::getenv("CEREBRA_DATA");
    const std::string where = data && *data ? std::string("$CEREBRA_DATA is ") + data
                                            : "$CEREBRA_DATA is unset, so they are taken under ./datasets/";
    return fmt::format("[dataset] {}: {} (relative roots of the study's datasets are taken under $CEREBRA_DATA; {})",
                       pipeline.dataset.name, brief(error), where);
  }
}

}  // namespace

int command_validate(const CommonOptions& common, const std::string& pipeline_file,
                     const std::vector<std::string>& overrides) {
  int exit_code = kOk;
  auto host = open_host(common, false, exit_code);
  if (!host) return exit_code;
  try {
    Pipeline pipeline = load_pipeline(pipeline_file, overrides, host->registry());
    if (const std::string problem = dataset_problem(pipeline, host->registry()); !problem.empty()) {
      std::cerr << pipeline_file << ": " << problem << "\n" << pipeline_file << ": 1 problem\n";
      return kBadUsage;
    }
    std::cout << pipeline_file << ": valid (dataset " << pipeline.dataset.name << ", model "
              << pipeline.model.name << ", " << pipeline.preprocess.size() << " preprocessing and "
              << pipeline.augment.size() << " augmentation stages)\n";
    return kOk;
  } catch (const ConfigError& error) {
    for (const auto& diagnostic : error.diagnostics()) {
      std::cerr << diagnostic.to_string() << "\n";
    }
    std::cerr << fmt::format("{}: {} problem{}\n", pipeline_file, error.diagnostics().size(),
                             error.diagnostics().size() == 1 ? "" : "s");
    return kBadUsage;
  }
}

int command_run(const CommonOptions& common, const std::string& pipeline_file,
                const std::vector<std::string>& overrides, const std::string& resume_dir) {
  int exit_code = kOk;
  auto host = open_host(common, false, exit_code);
  if (!host) return exit_code;
  RunOptions options;
  options.resume_dir = resume_dir;
  if (!resume_dir.empty()) options.overrides = overrides;
  RunResult result;
  try {
    if (!resume_dir.empty()) {
      result = resume_run(resume_dir, host->registry(), options);
    } else {
      Pipeline pipeline = load_pipeline(pipeline_file, overrides, host->registry());
      result = run_pipeline(pipeline, host->registry(), options);
    }
  } catch (const ConfigError& error) {
    for (const auto& diagnostic : error.diagnostics()) std::cerr << diagnostic.to_string() << "\n";
    return kBadUsage;
  } catch (const std::exception& error) {
    std::cerr << "cerebra run: error: " << brief(error) << "\n";
    return kRunFailed;
  }
  if (result.status == "failed") return kRunFailed;
  if (result.status == "interrupted") return 130;
  return kOk;
}

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

}  // namespace

int command_predict(const CommonOptions& common, const std::string& run_dir, const std::vector<std::string>& paths,
                    const std::string& format, const std::string& device) {
  int exit_code = kOk;
  auto host = open_host(common, false, exit_code);
  if (!host) return exit_code;
  std::vector<Prediction> predictions;
  std::vector<std::string> classes;
  try {
    TrainedRun run(run_dir, host->registry(), {device, std::nullopt});
    classes = run.class_names();
    predictions = run.predict(expand_image_paths(paths));
  } catch (const std::exception&) {
    return run_failure("predict", run_dir);
  }

  std::size_t predicted = 0;
  for (const auto& p : predictions) predicted += p.error.empty() ? 1 : 0;
  auto class_of = [&](const Prediction& p) {
    return p.error.empty() ? classes[static_cast<std::size_t>(p.predicted)] : std::string();
  };

  if (format == "json") {
    json out = {{"run", run_dir}, {"classes", classes}, {"predictions", json::array()}};
    for (const auto& p : predictions) {
      json item = {{"file", p.file}};
      if (p.error.empty()) {
        item["class"] = class_of(p);
        json probabilities = json::object();
        for (std::size_t c = 0; c < classes.size(); ++c) probabilities[classes[c]] = p.probabilities[c];
        item["probabilities"] = probabilities;
      } else {
        item["error"] = p.error;
      }
      out["predictions"].push_back(item);
    }
    std::cout << out.dump(2) << "\n";
  } else if (format == "csv") {
    std::cout << "file,class";
    for (const auto& name : classes) std::cout << "," << csv_field("p_" + name);
    std::cout << ",error\n";
    for (const auto& p : predictions) {
      std::cout << csv_field(p.file) << "," << csv_field(class_of(p));
      for (std::size_t c = 0; c < classes.size(); ++c) {
        std::cout << "," << (p.error.empty() ? fmt::format("{:.6f}", p.probabilities[c]) : "");
      }
      std::cout << "," << csv_field(p.error) << "\n";
    }
  } else {
    std::vector<std::string> header{"file", "class"};
    for (const auto& name : classes) header.push_back("p(" + name + ")");
    header.push_back("error");
    Table table(header);
    for (const auto& p : predictions) {
      std::vector<std::string> row{p.file, class_of(p)};
      for (std::size_t c = 0; c < classes.size(); ++c) {
        row.push_back(p.error.empty() ? fmt::format("{:.4f}", p.probabilities[c]) : "");
      }
      row.push_back(p.error);
      table.add(row);
    }
    std::cout << table.render();
  }
  if (predicted < predictions.size()) {
    std::cerr << fmt::format("cerebra predict: {} of {} file(s) could not be predicted\n",
                             predictions.size() - predicted, predictions.size());
  }
  return predicted > 0 ? kOk : kRunFailed;
}

int command_compare(const std::vector<std::string>& run_dirs, const std::string& format) {
  std::vector<ComparisonRow> rows;
  for (const auto& dir : run_dirs) {
    try {
      rows.push_back(comparison_row(dir));
    } catch (const std::exception& error) {
      std::cerr << "cerebra compare: " << brief(error) << "\n";
      continue;
    }
    if (rows.back().metrics.is_null()) {
      std::cerr << "cerebra compare: " << dir << ": no test metrics (status " << rows.back().status
                << "); its row is empty\n";
    }
  }
  if (rows.empty()) {
    std::cerr << "cerebra compare: no run to compare\n";
    return kRunFailed;
  }

  // CSV stays one table of figures; the other formats add the paired tests.
  const auto tests = format == "csv" ? std::vector<PairedTestAgainstFirst>{} : paired_tests_against_first(rows);
  if (format == "json") {
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& row : rows) {
      runs.push_back({{"run", row.run}, {"model", row.model}, {"dataset", row.dataset}, {"epochs", row.epochs},
                      {"weights", row.weights}, {"status", row.status}, {"metrics", row.metrics}});
    }
    std::cout << nlohmann::json{{"runs", runs}, {"paired_tests", paired_tests_json(rows, tests)}}.dump(2) << "\n";
    return kOk;
  }

  const auto columns = comparison_columns(rows);
  std::vector<std::string> header{"Model"};
  for (const auto& column : columns) header.push_back(column.first);
  for (const char* title : {"Dataset", "Epochs", "ImageNet weights", "Run"}) header.push_back(title);
  std::vector<std::vector<std::string>> cells;
  for (std::size_t index = 0; index < rows.size(); ++index) {
    const auto& row = rows[index];
    std::vector<std::string> line{row.model};
    for (const auto& column : columns) {
      const double value = comparison_value(row, column.second);
      line.push_back(format == "csv" && std::isnan(value) ? "" : format_number(value));
      // The paper's tables mark an accuracy that does not differ from the first run's beyond chance.
      if (format != "csv" && column.second == "accuracy" && marked_not_significant(tests, index)) {
        line.back() += std::string(" ") + kNotSignificantMark;
      }
    }
    line.push_back(row.dataset);
    line.push_back(std::to_string(row.epochs));
    line.push_back(row.weights);
    line.push_back(row.run);
    cells.push_back(std::move(line));
  }

  if (format == "csv") {
    auto emit = [](const std::vector<std::string>& line) {
      for (std::size_t i = 0; i < line.size(); ++i) std::cout << (i ? "," : "") << csv_field(line[i]);
      std::cout << "\n";
    };
    emit(header);
    for (const auto& line : cells) emit(line);
    return kOk;
  }
  if (format == "markdown") {
    std::cout << markdown_row(header) << "|";
    for (std::size_t i = 0; i < header.size(); ++i) {
      const bool numeric = i >= 1 && i <= columns.size() + 2 && i != columns.size() + 1;
      std::cout << (numeric ? "---:|" : "---|");
    }
    std::cout << "\n";
    for (const auto& line : cells) std::cout << markdown_row(line);
  } else {
    Table table(header);
    for (auto& line : cells) table.add(line);
    std::cout << table.render();
  }
  std::cout << paired_tests_text(rows, tests, format);
  return kOk;
}

}  // namespace cerebra::cli
