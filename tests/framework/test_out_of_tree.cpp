// Installs the framework, builds the example plugin in docs/ against the
// installed CMake package (as a team would in its own repository), and loads
// it with the installed `cerebra`.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_support.h"

using cerebra::testing::run_command;
namespace fs = std::filesystem;

TEST(OutOfTree, ExamplePluginBuildsAgainstTheInstalledPackageAndLoads) {
  // Inside the build tree, so ccache sees the same paths every time.
  const fs::path work = fs::path(CEREBRA_BINARY_DIR) / "out-of-tree";
  fs::remove_all(work);
  const fs::path prefix = work / "prefix";
  const fs::path build = work / "build";

  auto install = run_command("cmake --install " CEREBRA_BINARY_DIR " --prefix " + prefix.string());
  ASSERT_EQ(install.exit_code, 0) << install.output;
  ASSERT_TRUE(fs::exists(prefix / "lib" / "cmake" / "Cerebra" / "CerebraConfig.cmake"));
  ASSERT_TRUE(fs::exists(prefix / "include" / "cerebra" / "plugin_abi.h"));

  std::string launcher = run_command("command -v ccache").exit_code == 0
                             ? " -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
                             : "";
  auto configure = run_command("cmake -S " CEREBRA_SOURCE_DIR "/docs/examples/out-of-tree-plugin -B " +
                               build.string() + " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" +
                               prefix.string() + launcher);
  ASSERT_EQ(configure.exit_code, 0) << configure.output;
  auto compile = run_command("cmake --build " + build.string());
  ASSERT_EQ(compile.exit_code, 0) << compile.output;
  ASSERT_TRUE(fs::exists(build / "libtiny_net_plugin.so"));

  const std::string cerebra = "env -u CEREBRA_PLUGIN_PATH " + (prefix / "bin" / "cerebra").string();
  auto list = run_command(cerebra + " list architecture --strict --plugin-path " + build.string());
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("tiny_net"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("libtiny_net_plugin.so"), std::string::npos) << list.output;
  // The installed host also finds the installed plugins beside itself.
  EXPECT_NE(list.output.find("cnn"), std::string::npos) << list.output;

  auto inspect = run_command(cerebra + " inspect tiny_net --plugin-path " + build.string());
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_NE(inspect.output.find("Filters in each convolution"), std::string::npos) << inspect.output;
}
