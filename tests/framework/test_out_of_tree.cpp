// Installs the framework once, then builds against the installed CMake
// package as a team would in its own repository: the example plugin in docs/
// (loaded by the installed `cerebra`) and a small program of its own that
// creates a Host.
#include <gtest/gtest.h>

#include <fstream>

#include <filesystem>

#include "test_support.h"

using cerebra::testing::run_command;
namespace fs = std::filesystem;

namespace {

class OutOfTree : public ::testing::Test {
 protected:
  // Inside the build tree, so ccache sees the same paths every time; one
  // folder per test, since ctest runs the tests as parallel processes.
  static fs::path work() {
    return fs::path(CEREBRA_BINARY_DIR) / "out-of-tree" / ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  static fs::path prefix() { return work() / "prefix"; }

  void SetUp() override {
    fs::remove_all(work());
    install_ = run_command("cmake --install " CEREBRA_BINARY_DIR " --prefix " + prefix().string());
    ASSERT_EQ(install_.exit_code, 0) << install_.output;
    ASSERT_TRUE(fs::exists(prefix() / "lib" / "cmake" / "Cerebra" / "CerebraConfig.cmake"));
    ASSERT_TRUE(fs::exists(prefix() / "include" / "cerebra" / "plugin_abi.h"));
    ASSERT_TRUE(fs::exists(prefix() / "include" / "cerebra" / "version.h"));
  }

  // Configures and builds `source` against the installed package into
  // work()/`name`; returns the build folder.
  static fs::path build_against_installation(const std::string& source, const std::string& name) {
    const fs::path build = work() / name;
    std::string launcher = run_command("command -v ccache").exit_code == 0
                               ? " -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
                               : "";
    auto configure = run_command("cmake -S " + source + " -B " + build.string() +
                                 " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + prefix().string() + launcher);
    EXPECT_EQ(configure.exit_code, 0) << configure.output;
    auto compile = run_command("cmake --build " + build.string());
    EXPECT_EQ(compile.exit_code, 0) << compile.output;
    return build;
  }

  cerebra::testing::CommandResult install_;
};

}  // namespace

TEST_F(OutOfTree, ExamplePluginBuildsAgainstTheInstalledPackageAndLoads) {
  const fs::path build =
      build_against_installation(CEREBRA_SOURCE_DIR "/docs/examples/out-of-tree-plugin", "plugin");
  ASSERT_TRUE(fs::exists(build / "libtiny_net_plugin.so"));

  const std::string cerebra = "env -u CEREBRA_PLUGIN_PATH " + (prefix() / "bin" / "cerebra").string();
  auto list = run_command(cerebra + " list architecture --strict --plugin-path " + build.string());
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("tiny_net"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("libtiny_net_plugin.so"), std::string::npos) << list.output;
  // The installed host also finds the installed plugins beside itself.
  EXPECT_NE(list.output.find("cnn"), std::string::npos) << list.output;

  auto inspect = run_command(cerebra + " inspect tiny_net --plugin-path " + build.string());
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_NE(inspect.output.find("Filters in each convolution"), std::string::npos) << inspect.output;

  // The example's callback plugin runs inside a real (tiny) training run of
  // the installed host, on the out-of-tree architecture.
  ASSERT_TRUE(fs::exists(build / "libepoch_csv_plugin.so"));
  const fs::path work = prefix().parent_path() / "callback-run";
  fs::create_directories(work);
  const std::string csv = (work / "losses.csv").string();
  std::ofstream(work / "p.toml") << "[run]\nthreads = 1\n[dataset]\ntype = \"synthetic\"\ncount = 64\nimage_size = 32\n"
                                    "[[preprocess]]\ntype = \"resize\"\nsize = 32\n[model]\ntype = \"tiny_net\"\n"
                                    "[training]\nepochs = 2\nbatch_size = 16\n"
                                    "[[callbacks]]\ntype = \"epoch_csv\"\nfile = \"" + csv + "\"\n";
  auto run = run_command(cerebra + " run " + (work / "p.toml").string() + " --strict --plugin-path " + build.string() +
                         " --set run.output=" + (work / "runs").string());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::ifstream in(csv);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "epoch,train_loss,val_loss");
  EXPECT_EQ(lines[1].rfind("1,", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("2,", 0), 0u) << lines[2];
}

// The installed libcerebra is the build tree's binary, copied: it must search
// the installed plugin folder, never the build tree's, or a program built
// against it that also names the installed folder loads every plugin twice.
TEST_F(OutOfTree, AProgramLinkingTheInstalledLibrarySearchesOnlyInstalledPlugins) {
  const fs::path build = build_against_installation(CEREBRA_SOURCE_DIR "/tests/framework/out_of_tree_host", "host");
  const fs::path program = build / "out_of_tree_host";
  ASSERT_TRUE(fs::exists(program));

  const fs::path installed_plugins = prefix() / "lib" / "cerebra" / "plugins";
  auto run = run_command(program.string() + " " + installed_plugins.string());
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output.find("duplicate"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("failed"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("default folder " + installed_plugins.string()), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("loaded " + (installed_plugins / "libcerebra_architecture_inception_v3.so").string()),
            std::string::npos)
      << run.output;
  EXPECT_EQ(run.output.find("loaded " CEREBRA_PLUGIN_DIR), std::string::npos) << run.output;
}
