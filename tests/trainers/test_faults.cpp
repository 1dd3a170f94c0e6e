// Numerical faults in the training loop: a step whose loss is NaN or Inf is skipped (the weights
// and the optimizer state stay as they were), logged and counted, and too many in a row stop the
// run with one line naming the step and the last good checkpoint. Driven by an objective whose
// loss is poisoned at chosen steps.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "core/error.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "tests/cli/process.h"
#include "tokenizers/tokenizer.h"
#include "trainers/loop.h"

namespace fs = std::filesystem;
using zoo::testing::events;

namespace {

struct FaultyOptions : zoo::Options<FaultyOptions>, zoo::trainers::TrainerOptionsBase {
  std::vector<double> poisoned;  // micro-steps (1-based) whose loss is NaN
  std::vector<double> spiked;    // micro-steps whose loss is 1000 times larger

  template <class V>
  void visit(V& v) {
    loop.visit(v);
    v("poisoned", poisoned, "micro-steps whose loss is NaN");
    v("spiked", spiked, "micro-steps whose loss is 1000 times larger");
  }
};

// Least squares on a fixed batch: w moves towards 2 with every good update. Records w before
// each micro-step, so the test sees whether a poisoned step moved it.
class FaultyObjective : public zoo::trainers::Objective {
 public:
  FaultyObjective(const FaultyOptions& options, const zoo::trainers::ObjectiveContext&)
      : poisoned_(options.poisoned.begin(), options.poisoned.end()), spiked_(options.spiked.begin(), options.spiked.end()) {
    model_->register_parameter("w", torch::zeros({4}));
  }
  torch::nn::Module& model() override { return *model_; }
  zoo::trainers::ParameterGroups parameter_groups() override { return zoo::trainers::decay_groups(*model_); }
  zoo::trainers::MicroStep train_micro_step(int64_t, double scale) override {
    ++calls_;
    weights_before.push_back(model_->named_parameters()["w"].detach().clone());
    auto loss = (model_->named_parameters()["w"] - 2.0).pow(2).mean();
    if (poisoned_.count(static_cast<double>(calls_))) loss = loss * std::numeric_limits<double>::quiet_NaN();
    if (spiked_.count(static_cast<double>(calls_))) loss = loss * 1000.0;
    return zoo::trainers::backward(*model_, loss, 1, scale);
  }
  double evaluate(int64_t, int64_t) override { return (model_->named_parameters()["w"] - 2.0).pow(2).mean().item<double>(); }
  std::string data_state() const override { return ""; }
  void load_data_state(const std::string&) override {}

  static inline std::vector<torch::Tensor> weights_before;

 private:
  std::shared_ptr<torch::nn::Module> model_ = std::make_shared<torch::nn::Module>();
  std::set<double> poisoned_, spiked_;
  int64_t calls_ = 0;
};

class Faults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    zoo::tokenizers::register_tokenizers();
    zoo::datasets::register_datasets();
    zoo::models::register_models();
    zoo::trainers::register_trainers();
    zoo::trainers::add_objective<FaultyObjective, FaultyOptions>("faulty", "a loss poisoned at chosen steps");
  }

  std::string train(const std::string& poisoned, int64_t max_steps, const std::string& spiked = "[]") {
    FaultyObjective::weights_before.clear();
    std::ofstream(dir_.path() / "tiny.txt") << "abc abc abc abc abc abc abc abc\n";
    std::ofstream(dir_.path() / "faulty.yaml") << "name: faulty\nseed: 1\nthreads: 1\n"
                                                  "tokenizer: {type: char}\n"
                                                  "data: {type: text, train: " << (dir_.path() / "tiny.txt").string()
                                               << ", block_size: 4}\n"
                                                  "model: {type: gpt, n_layer: 1, n_head: 1, d_model: 8, block_size: 4}\n"
                                                  "trainer: {type: faulty, poisoned: " << poisoned
                                               << ", spiked: " << spiked
                                               << ", max_steps: " << max_steps
                                               << ", max_bad_steps: 3, log_every: 1, eval_every: 0, checkpoint_every: 2, "
                                                  "output_dir: " << (dir_.path() / "run").string()
                                               << ", optimizer: {type: adamw, lr: 0.1, weight_decay: 0.0}}\n"
                                                  "generation: {max_new_tokens: 0}\n";
    zoo::trainers::TrainRequest request;
    request.recipe_path = (dir_.path() / "faulty.yaml").string();
    request.overwrite = true;
    return zoo::trainers::train(request);
  }

  zoo::testing::TempDir dir_;
};

}  // namespace

TEST_F(Faults, ANonFiniteLossSkipsTheUpdateAndIsCounted) {
  const std::string run = train("[3, 4]", 6);
  auto& w = FaultyObjective::weights_before;
  ASSERT_EQ(w.size(), 8u);  // 6 good steps and 2 skipped
  EXPECT_FALSE(torch::equal(w[1], w[2])) << "a good step updates";
  // Micro-steps 3 and 4 were poisoned: the weights before 4 and before 5 are those before 3.
  EXPECT_TRUE(torch::equal(w[2], w[3]));
  EXPECT_TRUE(torch::equal(w[2], w[4]));
  EXPECT_FALSE(torch::equal(w[4], w[5]));
  // Adam's state was untouched too: the step after the skipped ones moves as the third step
  // of a clean run does (same moments, same bias correction, same learning rate).
  const torch::Tensor poisoned_run_step = w[5] - w[4];
  train("[]", 6);
  EXPECT_TRUE(torch::allclose(poisoned_run_step, w[3] - w[2], 0, 1e-7)) << poisoned_run_step << (w[3] - w[2]);

  train("[3, 4]", 6);
  auto bad = events(fs::path(run) / "metrics.jsonl", "bad_step");
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0]["step"].get<int64_t>(), 3);
  EXPECT_TRUE(bad[0]["loss"].is_null());
  EXPECT_EQ(bad[1]["in_a_row"].get<int64_t>(), 2);
  auto end = events(fs::path(run) / "metrics.jsonl", "end").at(0);
  EXPECT_EQ(end["bad_steps"].get<int64_t>(), 2);
  EXPECT_EQ(end["step"].get<int64_t>(), 6);
}

TEST_F(Faults, TooManyInARowStopWithTheLastGoodCheckpoint) {
  std::string message;
  try {
    train("[5, 6, 7, 8, 9, 10]", 20);
  } catch (const zoo::UserError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("training stopped at step 5: 4 steps in a row had a non-finite loss or gradient norm (more "
                         "than trainer.max_bad_steps: 3); the last good checkpoint is "),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("step_000004"), std::string::npos) << message;
  EXPECT_TRUE(fs::exists(dir_.path() / "run/checkpoints/step_000004/model.pt"));
}

// Clipping is off so the optimizer sees the spike's gradient as it is; the log names the step.
TEST_F(Faults, AGradientNormSpikeIsLogged) {
  const std::string run = train("[]", 30, "[25]");
  auto spikes = events(fs::path(run) / "metrics.jsonl", "grad_spike");
  ASSERT_EQ(spikes.size(), 1u);
  EXPECT_EQ(spikes[0]["step"].get<int64_t>(), 25);
  EXPECT_GT(spikes[0]["grad_norm"].get<double>(), 10 * spikes[0]["average"].get<double>());
  EXPECT_TRUE(events(fs::path(run) / "metrics.jsonl", "bad_step").empty());
}
