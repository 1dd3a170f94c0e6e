// The instruction set of the course's week 10 (prompting a base model vs LoRA vs full
// fine-tuning), from a generator: eight kinds of small tasks a character-level model can learn
// on a CPU, each answered by one short line:
//
// Words are common English words or, half the time, random letters ("qzeuvb").
//
//   reverse      "Reverse the word."                  garden            -> nedrag
//   length       "How many letters are in the word?"  garden            -> 6
//   count        "How many times does the letter appear in the word?"  r in mirror -> 3
//   sequence     "Continue the sequence."             4, 7, 10, 13      -> 16, 19
//   letters      "Continue the alphabet."             c e g i           -> k m o
//   larger       "Which number is larger?"            482, 317          -> 482
//   first_word   "What is the first (last) word of the sentence?"  the old dog ran home -> the
//   word_count   "How many words are in the sentence?"      the old dog ran home -> 5
//
// `zoo data prepare sft-tasks` writes data/sft-tasks/{train,valid,test}.jsonl as
// {"instruction", "input", "output"} objects, the same tasks in every split in equal shares. An
// (instruction, input) pair occurs in one split only, so a test answer is never a memorised
// train line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zoo::datasets {

struct InstructionTask {
  std::string kind;  // reverse, length, ...: the name in the table above
  std::string instruction, input, output;
};

struct InstructionTaskSplits {
  std::vector<InstructionTask> train, valid, test;
};

// The same splits for the same arguments on every platform (mt19937_64 with unbiased draws).
InstructionTaskSplits generate_instruction_tasks(uint64_t seed = 10, int64_t train = 12000, int64_t valid = 240,
                                                 int64_t test = 640);

// One {"instruction", "input", "output"} JSON object a line.
std::string to_jsonl(const std::vector<InstructionTask>& tasks);

}  // namespace zoo::datasets
