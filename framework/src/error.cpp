#include "cerebra/error.h"

#include <algorithm>

namespace cerebra {

std::string SourceLocation::to_string() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Diagnostic::to_string() const {
  std::string location = where.to_string();
  return location.empty() ? message : location + ": " + message;
}

namespace {
std::string describe(const std::vector<Diagnostic>& diagnostics) {
  std::string text;
  for (const auto& diagnostic : diagnostics) {
    if (!text.empty()) text += "\n";
    text += diagnostic.to_string();
  }
  return text;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}
}  // namespace

ConfigError::ConfigError(std::vector<Diagnostic> diagnostics)
    : Error(describe(diagnostics)), diagnostics_(std::move(diagnostics)) {}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string closest = closest_match(word, candidates);
  return closest.empty() ? std::string() : " (did you mean '" + closest + "'?)";
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::string::npos;
  for (const auto& candidate : candidates) {
    std::size_t distance = edit_distance(word, candidate);
    // A prefix ("vgg" for "vgg16") is a strong hint even when the distance is large.
    if (candidate.rfind(word, 0) == 0 || word.rfind(candidate, 0) == 0) {
      distance = std::min(distance, std::size_t{1});
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  return best_distance <= limit ? best : std::string();
}

std::string brief(const std::exception& error) {
  std::string text = error.what();
  // Torch appends a C++ stack trace; users need the first line, not the frames.
  auto trace = text.find("\nException raised from");
  if (trace != std::string::npos) text.erase(trace);
  return text;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  if (items.empty()) return "(none)";
  std::string text;
  for (const auto& item : items) {
    if (!text.empty()) text += separator;
    text += item;
  }
  return text;
}

}  // namespace cerebra
