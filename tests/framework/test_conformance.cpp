// Walks every real plugin the build produced: each must load, and each
// component must have a complete schema and construct from its defaults.
#include <gtest/gtest.h>

#include "cerebra/host.h"
#include "cerebra/pipeline.h"
#include "run_support.h"

using namespace cerebra;

namespace {
Host& host() { return cerebra::testing::build_tree_host(); }
}  // namespace

TEST(Conformance, EveryPluginLoads) {
  for (const auto* failure : host().failures()) ADD_FAILURE() << failure->message;
}

TEST(Conformance, EverySchemaIsComplete) {
  for (const auto* info : host().registry().list()) {
    SCOPED_TRACE(info->kind + "/" + info->name);
    EXPECT_FALSE(info->summary.empty());
    EXPECT_EQ(info->summary.find('\n'), std::string::npos) << "summary must be one line";
    for (const auto& problem : info->schema.problems()) ADD_FAILURE() << problem;
  }
}

TEST(Conformance, EveryComponentConstructsFromItsDefaults) {
  for (const auto* info : host().registry().list()) {
    SCOPED_TRACE(info->kind + "/" + info->name);
    bool has_required = false;
    for (const auto& spec : info->schema.parameters()) has_required |= spec.required();
    if (has_required) continue;  // nothing to construct it from; validation covers it
    std::unique_ptr<Component> component;
    EXPECT_NO_THROW(component = host().registry().create(info->kind, info->name, {}));
    EXPECT_NE(component, nullptr);
  }
}

TEST(Conformance, FrameworkSectionSchemasAreComplete) {
  for (const auto& section : pipeline_sections()) {
    SCOPED_TRACE(section.name);
    EXPECT_FALSE(section.doc.empty());
    for (const auto& problem : section.schema.problems()) ADD_FAILURE() << problem;
  }
}

TEST(Conformance, EveryKindHasAtLeastOneComponent) {
  // The framework ships components of each kind; a build that lost a family
  // of plugins must not pass quietly.
  for (const char* kind : {kinds::dataset, kinds::transform, kinds::architecture, kinds::metric, kinds::loss,
                           kinds::optimizer, kinds::schedule, kinds::objective, kinds::callback}) {
    EXPECT_FALSE(host().registry().names(kind).empty()) << "no " << kind << " registered";
  }
}
