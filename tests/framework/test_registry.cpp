#include <gtest/gtest.h>

#include "cerebra/registry.h"
#include "cerebra/transform.h"

using namespace cerebra;

namespace {

class Stub : public Component {
 public:
  explicit Stub(const Parameters& parameters) : parameters_(parameters) {}
  Parameters parameters_;
};

Registry make_registry() {
  Registry registry;
  Schema schema;
  schema.add_int("size", 64, "Output size").range(1, 4096);
  schema.add_required("root", ParameterType::Path, "Where the data is");
  registry.add<Stub>(kinds::transform, "resize", "Resizes", schema);
  registry.add<Stub>(kinds::transform, "random_flip", "Flips", {});
  registry.add<Stub>(kinds::architecture, "vgg16", "VGG", {});
  return registry;
}

}  // namespace

TEST(Registry, UnknownNameListsWhatIsAvailableAndTheClosestMatch) {
  Registry registry = make_registry();
  try {
    registry.find(kinds::transform, "resise");
    FAIL() << "expected an error";
  } catch (const UnknownComponentError& error) {
    EXPECT_EQ(error.closest(), "resize");
    EXPECT_EQ(error.available(), (std::vector<std::string>{"random_flip", "resize"}));
    EXPECT_STREQ(error.what(),
                 "unknown transform 'resise' (did you mean 'resize'?); available: random_flip, resize");
  }
}

TEST(Registry, UnknownNameWithNothingCloseSuggestsNothing) {
  Registry registry = make_registry();
  try {
    registry.find(kinds::architecture, "transformer");
    FAIL();
  } catch (const UnknownComponentError& error) {
    EXPECT_EQ(error.closest(), "");
    EXPECT_STREQ(error.what(), "unknown architecture 'transformer'; available: vgg16");
  }
}

TEST(Registry, DuplicateKeyIsAnErrorButTheSameNameOfAnotherKindIsNot) {
  Registry registry = make_registry();
  EXPECT_THROW(registry.add<Stub>(kinds::transform, "resize", "again", {}), DuplicateComponentError);
  EXPECT_NO_THROW(registry.add<Stub>(kinds::metric, "resize", "a metric called resize", {}));
  EXPECT_EQ(registry.find_by_name("resize").size(), 2u);
}

TEST(Registry, CreateFillsDefaultsAndRequiresRequiredValues) {
  Registry registry = make_registry();
  EXPECT_THROW(registry.create(kinds::transform, "resize", {}), Error);
  Parameters parameters;
  parameters.set("root", std::string("/data"));
  auto component = registry.create(kinds::transform, "resize", parameters);
  auto* stub = dynamic_cast<Stub*>(component.get());
  ASSERT_NE(stub, nullptr);
  EXPECT_EQ(stub->parameters_.get_int("size"), 64);
  EXPECT_EQ(stub->parameters_.get_string("root"), "/data");
}

TEST(Registry, CreateAsRefusesTheWrongInterface) {
  Registry registry = make_registry();
  EXPECT_THROW(registry.create_as<Transform>(kinds::transform, "random_flip", {}), Error);
}

TEST(Registry, ListIsSortedByKindThenName) {
  Registry registry = make_registry();
  std::vector<std::string> keys;
  for (const auto* info : registry.list()) keys.push_back(info->kind + "/" + info->name);
  EXPECT_EQ(keys, (std::vector<std::string>{"architecture/vgg16", "transform/random_flip",
                                            "transform/resize"}));
}

TEST(Schema, ProblemsFindIncompleteDeclarations) {
  Schema schema;
  schema.add_int("size", 5000, "Output size").range(1, 4096);
  schema.add_string("mode", "zoom", "How").one_of({"stretch", "pad"});
  schema.add_bool("flag", true, "");
  auto problems = schema.problems();
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0], "parameter 'size' default 5000 is outside [1, 4096]");
  EXPECT_EQ(problems[1], "parameter 'mode' default \"zoom\" is not one of stretch, pad");
  EXPECT_EQ(problems[2], "parameter 'flag' has no documentation");
}
