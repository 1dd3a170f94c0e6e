// The week-10 instruction tasks: the same splits from the same seed, every kind in every split,
// no held-out (instruction, input) pair in train, and answers that are right.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "datasets/instruction_tasks.h"

using zoo::datasets::generate_instruction_tasks;
using zoo::datasets::InstructionTask;

TEST(InstructionTasks, TheSameSeedGivesTheSameSplitsAndAnotherSeedOthers) {
  const auto a = generate_instruction_tasks(3, 800, 80, 160);
  const auto b = generate_instruction_tasks(3, 800, 80, 160);
  EXPECT_EQ(zoo::datasets::to_jsonl(a.train), zoo::datasets::to_jsonl(b.train));
  EXPECT_EQ(zoo::datasets::to_jsonl(a.test), zoo::datasets::to_jsonl(b.test));
  EXPECT_NE(zoo::datasets::to_jsonl(generate_instruction_tasks(4, 800, 80, 160).test), zoo::datasets::to_jsonl(a.test));
  EXPECT_EQ(a.train.size(), 800u);
  EXPECT_EQ(a.valid.size(), 80u);
  EXPECT_EQ(a.test.size(), 160u);
}

TEST(InstructionTasks, EveryKindInEveryShareAndNoHeldOutPairInTrain) {
  const auto splits = generate_instruction_tasks();
  const auto kinds = [](const std::vector<InstructionTask>& tasks) {
    std::map<std::string, size_t> count;
    for (const auto& task : tasks) ++count[task.kind];
    return count;
  };
  for (const auto* split : {&splits.train, &splits.valid, &splits.test}) {
    const auto count = kinds(*split);
    ASSERT_EQ(count.size(), 8u);
    for (const auto& [kind, n] : count) EXPECT_EQ(n, split->size() / 8) << kind;
  }
  std::set<std::pair<std::string, std::string>> held_out;
  for (const auto* split : {&splits.valid, &splits.test})
    for (const auto& task : *split) EXPECT_TRUE(held_out.insert({task.instruction, task.input}).second) << task.input;
  for (const auto& task : splits.train) EXPECT_FALSE(held_out.count({task.instruction, task.input})) << task.input;
}

TEST(InstructionTasks, TheAnswersAreRight) {
  for (const auto& task : generate_instruction_tasks(5, 400, 40, 80).train) {
    SCOPED_TRACE(task.instruction + " | " + task.input + " -> " + task.output);
    const std::string& in = task.input;
    const auto words = std::count(in.begin(), in.end(), ' ') + 1;
    if (task.kind == "reverse") {
      EXPECT_EQ(task.output, std::string(in.rbegin(), in.rend()));
    }
    if (task.kind == "length") {
      EXPECT_EQ(task.output, std::to_string(in.size()));
    }
    if (task.kind == "count") {
      ASSERT_EQ(in.substr(1, 4), " in ");
      EXPECT_EQ(task.output, std::to_string(std::count(in.begin() + 5, in.end(), in[0])));
    }
    if (task.kind == "larger") {
      const auto a = std::stoi(in.substr(0, in.find(','))), b = std::stoi(in.substr(in.find(',') + 2));
      EXPECT_EQ(task.output, std::to_string(std::max(a, b)));
    }
    if (task.kind == "sequence") {
      // The next two terms keep the step of the given ones.
      std::vector<int> terms;
      for (const std::string& list : {in, task.output})
        for (size_t at = 0; at < list.size();) {
          const size_t comma = list.find(", ", at);
          terms.push_back(std::stoi(list.substr(at, comma - at)));
          at = comma == std::string::npos ? list.size() : comma + 2;
        }
      for (size_t i = 2; i < terms.size(); ++i) EXPECT_EQ(terms[i] - terms[i - 1], terms[1] - terms[0]);
    }
    if (task.kind == "letters") {
      const std::string all = in + " " + task.output;
      for (size_t i = 4; i < all.size(); i += 2) EXPECT_EQ(all[i] - all[i - 2], all[2] - all[0]);
    }
    if (task.kind == "word_count") {
      EXPECT_EQ(task.output, std::to_string(words));
    }
    if (task.kind == "first_word") {
      const bool first = task.instruction.find("first") != std::string::npos;
      EXPECT_EQ(task.output, first ? in.substr(0, in.find(' ')) : in.substr(in.rfind(' ') + 1));
    }
  }
}
