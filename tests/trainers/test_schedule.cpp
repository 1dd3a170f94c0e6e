// Learning-rate schedules against their closed forms, and weight-decay groups in AdamW.
#include <gtest/gtest.h>

#include <cmath>

#include "core/recipe.h"
#include "trainers/optim.h"

namespace zoo::trainers {
namespace {

Component parse(const std::string& kind, const std::string& yaml) {
  register_optimizers();
  return parse_component(kind, yaml);
}

TEST(Schedule, CosineWarmsUpThenFollowsTheCosineToMinLr) {
  Schedule cosine = schedules().build(parse("scheduler", "{type: cosine, warmup_steps: 10, min_lr: 0.1}"));
  const double base = 1.0;
  EXPECT_NEAR(cosine(0, 110, base), 1.0 / 11.0, 1e-12);
  EXPECT_NEAR(cosine(9, 110, base), 10.0 / 11.0, 1e-12);
  EXPECT_NEAR(cosine(10, 110, base), 1.0, 1e-12);
  EXPECT_NEAR(cosine(60, 110, base), 0.1 + 0.9 * 0.5, 1e-12);  // half way: cos(pi/2) = 0
  EXPECT_NEAR(cosine(110, 110, base), 0.1, 1e-12);
}

TEST(Schedule, LinearAndConstant) {
  Schedule linear = schedules().build(parse("scheduler", "{type: linear, min_lr: 0.0}"));
  EXPECT_NEAR(linear(25, 100, 2.0), 1.5, 1e-12);
  Schedule constant = schedules().build(parse("scheduler", "{type: constant, warmup_steps: 4}"));
  EXPECT_NEAR(constant(1, 100, 2.0), 2.0 * 2 / 5, 1e-12);
  EXPECT_NEAR(constant(50, 100, 2.0), 2.0, 1e-12);
}

TEST(Optimizer, DecayOnlyOnTheDecayGroup) {
  auto matrix = torch::ones({3, 3}, torch::requires_grad());
  auto bias = torch::ones({3}, torch::requires_grad());
  auto built = optimizers().build(parse("optimizer", "{type: adamw, lr: 0.1, weight_decay: 0.5}"),
                                  ParameterGroups{{matrix}, {bias}, {}, {}, 1.0});
  matrix.mutable_grad() = torch::zeros_like(matrix);
  bias.mutable_grad() = torch::zeros_like(bias);
  built.optimizer->step();
  // Zero gradients: only decoupled decay moves a parameter, by lr * wd * p.
  EXPECT_NEAR(matrix[0][0].item<double>(), 1.0 - 0.1 * 0.5, 1e-6);
  EXPECT_NEAR(bias[0].item<double>(), 1.0, 1e-7);
  EXPECT_DOUBLE_EQ(built.base_lr, 0.1);
}

}  // namespace
}  // namespace zoo::trainers
