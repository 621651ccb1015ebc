#include "invocation.h"

#include <iostream>
#include <utility>

namespace po = boost::program_options;

namespace cerebra::cli {

Invocation::Invocation(std::string verb, int argc, char** argv)
    : verb_(std::move(verb)), argc_(argc), argv_(argv), options_("Options") {
  options_.add_options()
      ("plugin-path", po::value(&common.plugin_paths)->composing(), "also search DIR for plugins")
      ("strict", po::bool_switch(&common.strict), "fail (exit 3) when any plugin fails to load")
      ("help,h", "show help");
}

std::optional<int> Invocation::parse(std::size_t min_args, std::size_t max_args) {
  po::options_description all = options_;  // --help shows these; "args" stays hidden
  all.add_options()("args", po::value(&positional_), "positional arguments");
  po::positional_options_description positional_spec;
  positional_spec.add("args", -1);
  try {
    po::store(po::command_line_parser(argc_, argv_).options(all).positional(positional_spec).run(), variables_);
    po::notify(variables_);
  } catch (const po::error& error) {
    return usage_error(error.what());
  }
  if (given("help")) {
    std::cout << "Usage: " << synopsis_ << "\n\n" << options_ << "\n";
    return kOk;
  }
  if (positional_.size() < min_args || positional_.size() > max_args) {
    const std::string expected = min_args == max_args    ? std::to_string(min_args)
                                 : max_args == kUnlimited ? "at least " + std::to_string(min_args)
                                                          : std::to_string(min_args) + " to " + std::to_string(max_args);
    return usage_error("expected " + expected + " argument(s), got " + std::to_string(positional_.size()));
  }
  return std::nullopt;
}

int Invocation::usage_error(const std::string& message) const {
  std::cerr << "cerebra " << verb_ << ": " << message << "\n\nUsage: " << synopsis_ << "\n";
  return kBadUsage;
}

std::vector<std::string> Invocation::rest() const {
  if (positional_.size() < 2) return {};
  return std::vector<std::string>(positional_.begin() + 1, positional_.end());
}

}  // namespace cerebra::cli
