// Tiny real runs for the report's tests, and a headless browser to open
// their reports in.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "run_support.h"
#include "test_support.h"

namespace cerebra::testing {

// Trains the tiny synthetic pipeline into `dir`/`name` and returns its run
// directory. Bootstrap intervals and ROC-AUC are on, as a study's pipeline has them.
inline std::filesystem::path tiny_run(const TempDir& dir, const std::string& name, int epochs) {
  write_text(dir.file(name + ".toml"), tiny_pipeline(epochs) + R"(
[evaluation]
metrics = ["accuracy", "precision", "sensitivity", "specificity", "f1", "roc_auc"]
bootstrap = 100
)");
  auto result = run_command(cli() + " run " + dir.file(name + ".toml") + " --set run.output=" + dir.file(name));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return only_run(dir.file(name));
}

// The Chromium of this machine (CEREBRA_CHROMIUM, else chromium or
// chromium-browser on PATH), or "" when there is none.
inline std::string find_chromium() {
  if (const char* chosen = std::getenv("CEREBRA_CHROMIUM")) return chosen;
  for (const char* name : {"chromium", "chromium-browser"}) {
    auto found = run_command(std::string("command -v ") + name + " 2>/dev/null");
    if (found.exit_code == 0 && !found.output.empty()) return found.output.substr(0, found.output.find('\n'));
  }
  return "";
}

struct BrowserRun {
  int exit_code = -1;
  std::string output;  // --dump-dom's DOM after scripts ran, or nothing
  std::string log;     // Chromium's log; the page's console messages appear as ":CONSOLE" lines
};

// Opens `page` headless with a fresh profile, no network services, and
// `action` (--dump-dom or --screenshot=FILE --window-size=W,H).
inline BrowserRun open_headless(const std::string& chromium, const std::filesystem::path& page,
                                const TempDir& work, const std::string& action) {
  static int profiles = 0;
  const std::string profile = work.file("chromium-profile-" + std::to_string(++profiles));
  const std::string out = profile + ".out", log = profile + ".log";
  const std::string command =
      chromium + " --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update"
                 " --disable-sync --no-first-run --disable-quic --hide-scrollbars --user-data-dir=" + profile +
      " --enable-logging=stderr --v=0 --virtual-time-budget=5000 " + action + " 'file://" +
      std::filesystem::absolute(page).string() + "' >" + out + " 2>" + log;
  BrowserRun run;
  run.exit_code = run_command(command).exit_code;
  run.output = read_text(out);
  run.log = read_text(log);
  return run;
}

}  // namespace cerebra::testing
