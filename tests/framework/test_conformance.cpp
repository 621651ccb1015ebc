// Walks every real plugin the build produced: each must load, each component
// must have a complete schema and construct from its defaults, and each
// architecture's declared structure must exist in the network it builds.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cerebra/architecture.h"
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

namespace {

bool in_module(const std::string& name, const std::string& prefix) {
  return name == prefix || name.rfind(prefix + ".", 0) == 0;
}

bool is_module(const ClassifierModel& model, const std::string& name) {
  for (const auto& item : model.named_modules()) {
    if (item.key() == name) return true;
  }
  return false;
}

// Every prefix of a layer group names a module of the network (a ReLU or a
// pool, without parameters, may sit in a group), every group holds
// parameters, the head is the last group, and the Grad-CAM layer is a module.
void expect_declared_structure_exists(const ArchitectureInfo& info, const ClassifierModel& model) {
  ASSERT_FALSE(info.layer_groups.empty()) << "no layer groups";
  ASSERT_NE(info.head_group(), nullptr);
  EXPECT_EQ(info.head_group(), &info.layer_groups.back());
  for (const auto& group : info.layer_groups) {
    EXPECT_FALSE(group.module_prefixes.empty()) << "group " << group.name << " names no modules";
    std::size_t parameters = 0;
    for (const auto& prefix : group.module_prefixes) {
      EXPECT_TRUE(is_module(model, prefix)) << "group " << group.name << ": no module '" << prefix << "'";
      for (const auto& item : model.named_parameters()) parameters += in_module(item.key(), prefix);
    }
    EXPECT_GT(parameters, 0u) << "group " << group.name << " holds no parameters";
  }
  EXPECT_TRUE(is_module(model, info.gradcam_layer))
      << "Grad-CAM layer '" << info.gradcam_layer << "' is not a module of the network";
}

// Grad-CAM cuts the network at its layer: the two halves together must be
// the whole network, on an input that is not uniform.
void expect_gradcam_cut_is_the_network(ClassifierModel& model, std::int64_t side) {
  torch::NoGradGuard no_grad;
  model.eval();
  torch::manual_seed(3);
  const auto input = torch::rand({2, 3, side, side});
  torch::Tensor activation, logits;
  ASSERT_NO_THROW(activation = model.forward_to_gradcam_layer(input));
  EXPECT_EQ(activation.dim(), 4) << "the Grad-CAM layer's output must be a feature map (N, C, H, W)";
  ASSERT_NO_THROW(logits = model.forward_from_gradcam_layer(activation));
  EXPECT_TRUE(torch::allclose(logits, model.forward(input), 1e-4, 1e-5));
}

// The defaults, and the defaults with each switch flipped (a switch such as
// inception_v3's aux_logits changes the modules there are).
std::vector<Parameters> variants(const Schema& schema) {
  std::vector<Parameters> out{Parameters::defaults(schema)};
  for (const auto& spec : schema.parameters()) {
    if (spec.type != ParameterType::Bool || !spec.default_value) continue;
    out.push_back(out.front());
    out.back().set(spec.name, !std::get<bool>(*spec.default_value));
  }
  return out;
}

// What info() declares holds for the network build() makes, and the
// smallest input it declares it takes goes through (eval mode: batch norm
// then needs no batch statistics).
void expect_architecture_conforms(const std::string& name, const Parameters& parameters) {
  auto architecture = host().registry().create_as<Architecture>(kinds::architecture, name, parameters);
  const ArchitectureInfo info = architecture->info();
  EXPECT_EQ(info.mean.size(), 3u);
  EXPECT_EQ(info.std.size(), 3u);
  EXPECT_TRUE(info.accepts(info.input_size, info.input_size)) << "its own input size is refused";
  auto model = architecture->build(3);
  expect_declared_structure_exists(info, *model);
  const std::int64_t side = info.fixed_input ? info.input_size : info.min_input_size;
  torch::NoGradGuard no_grad;
  model->eval();
  torch::Tensor logits;
  ASSERT_NO_THROW(logits = model->forward(torch::zeros({1, 3, side, side}))) << side << "x" << side;
  EXPECT_EQ(logits.sizes().vec(), (std::vector<std::int64_t>{1, 3}));
  expect_gradcam_cut_is_the_network(*model, side);
}

}  // namespace

TEST(Conformance, EveryArchitectureBuildsWhatItDeclares) {
  for (const auto* component : host().registry().list(kinds::architecture)) {
    for (const auto& parameters : variants(component->schema)) {
      SCOPED_TRACE(component->name + " " + parameters.to_json().dump());
      expect_architecture_conforms(component->name, parameters);
    }
  }
}

TEST(Conformance, NoMetricDeclaresTheFrameworksPerMetricKeys) {
  // [evaluation.NAME] bootstrap and bootstrap_seed belong to the framework.
  for (const auto* component : host().registry().list(kinds::metric)) {
    EXPECT_EQ(component->schema.find("bootstrap"), nullptr) << component->name;
    EXPECT_EQ(component->schema.find("bootstrap_seed"), nullptr) << component->name;
  }
}
