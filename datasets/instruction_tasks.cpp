// The week-10 instruction tasks: one generator per kind, drawn in turn, deduplicated across
// splits by (instruction, input).
#include "datasets/instruction_tasks.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <random>
#include <set>
#include <stdexcept>

#include "datasets/examples.h"

namespace zoo::datasets {
namespace {

// Common English words of 3 to 8 letters: the base model has read most of them in Brown.
const std::vector<std::string> kWords = {
    "about",  "after",   "again",   "animal", "answer",  "apple",   "around", "basket", "beach",   "before",
    "better", "bird",    "black",   "book",   "bottle",  "bread",   "bridge", "bright", "brother", "build",
    "butter", "camera",  "candle",  "carpet", "castle",  "chair",   "cheese", "child",  "circle",  "city",
    "class",  "clock",   "cloud",   "coffee", "color",   "corner",  "country", "cousin", "cover",  "dance",
    "danger", "dinner",  "doctor",  "dollar", "dream",   "driver",  "early",  "earth",  "engine",  "evening",
    "family", "farmer",  "father",  "field",  "finger",  "flower",  "forest", "friend", "garden",  "glass",
    "good",   "green",   "guitar",  "hammer", "happy",   "heart",   "history", "horse", "house",   "island",
    "jacket", "kitchen", "ladder",  "lemon",  "letter",  "light",   "little", "market", "metal",   "mirror",
    "money",  "month",   "morning", "mother", "mountain", "music",  "number", "ocean",  "office",  "orange",
    "paper",  "parent",  "pencil",  "people", "picture", "planet",  "plant",  "pocket", "police",  "potato",
    "power",  "quiet",   "rabbit",  "river",  "road",    "rocket",  "school", "season", "second",  "shadow",
    "silver", "sister",  "small",   "spring", "square",  "station", "stone",  "story",  "street",  "summer",
    "table",  "teacher", "thunder", "ticket", "tiger",   "tomato",  "tower",  "train",  "travel",  "tree",
    "turtle", "uncle",   "valley",  "village", "water",  "weather", "window", "winter", "woman",   "wonder",
    "world",  "yellow",  "young",   "zebra",  "cat",     "dog",     "sun",    "moon",   "star",    "fish",
    "boat",   "milk",    "salt",    "rain",   "snow",    "wind",    "fire",   "gold",   "king",    "queen",
};

const std::vector<std::string> kAdjectives = {"old", "young", "small", "big", "happy", "quiet", "red",  "tall",
                                              "kind", "brave", "tired", "clever", "lazy", "green", "new", "cold"};
const std::vector<std::string> kNouns = {"dog",  "cat",   "man",    "woman", "child", "bird",  "farmer", "teacher",
                                         "king", "queen", "doctor", "horse", "boy",   "girl",  "driver", "tiger"};
const std::vector<std::string> kVerbs = {"ran",  "walked", "sat",   "slept", "sang",  "jumped", "waited", "smiled",
                                         "ate",  "read",   "swam",  "left",  "stood", "talked", "worked", "played"};
const std::vector<std::string> kEndings = {"home", "today", "outside", "slowly", "again", "there",
                                           "early", "quietly", "at night", "in the garden", "by the river",
                                           "near the house", "all day", "with a friend"};

class Draw {
 public:
  explicit Draw(uint64_t seed) : engine_(seed) {}
  int64_t below(int64_t n) { return static_cast<int64_t>(uniform_below(engine_, static_cast<uint64_t>(n))); }
  int64_t between(int64_t low, int64_t high) { return low + below(high - low + 1); }  // inclusive
  const std::string& pick(const std::vector<std::string>& items) { return items[static_cast<size_t>(below(static_cast<int64_t>(items.size())))]; }

 private:
  std::mt19937_64 engine_;
};

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

// A list word half the time, else 3 to 8 letters drawn uniformly ("qzeuvb"): enough distinct
// inputs for every split, and no answer a model could know without doing the task.
std::string some_word(Draw& draw) {
  if (draw.below(2) == 0) return draw.pick(kWords);
  std::string letters(static_cast<size_t>(draw.between(3, 8)), 'a');
  for (auto& c : letters) c = static_cast<char>('a' + draw.below(26));
  return letters;
}

std::string sentence(Draw& draw) {
  static const std::vector<std::string> determiners = {"the", "a", "my", "one", "this", "that", "every", "our"};
  std::vector<std::string> words = {draw.pick(determiners)};
  if (draw.below(2) == 0) words.push_back(draw.pick(kAdjectives));
  words.push_back(draw.pick(kNouns));
  words.push_back(draw.pick(kVerbs));
  if (draw.below(3) != 0) words.push_back(draw.pick(kEndings));
  return join(words, " ");
}

int64_t word_count(const std::string& text) {
  int64_t count = 1;
  for (char c : text) count += c == ' ';
  return count;
}

using Generator = std::function<InstructionTask(Draw&)>;

const std::vector<Generator>& generators() {
  static const std::vector<Generator> all = {
      [](Draw& draw) {
        const std::string word = some_word(draw);
        return InstructionTask{"reverse", "Reverse the word.", word, std::string(word.rbegin(), word.rend())};
      },
      [](Draw& draw) {
        const std::string word = some_word(draw);
        return InstructionTask{"length", "How many letters are in the word?", word, std::to_string(word.size())};
      },
      [](Draw& draw) {
        const std::string word = some_word(draw);
        // A letter of the word half the time, else any letter (the answer may be 0).
        const char letter = draw.below(2) == 0 ? word[static_cast<size_t>(draw.below(static_cast<int64_t>(word.size())))]
                                               : static_cast<char>('a' + draw.below(26));
        const auto count = std::count(word.begin(), word.end(), letter);
        return InstructionTask{"count", "How many times does the letter appear in the word?",
                               std::string(1, letter) + " in " + word, std::to_string(count)};
      },
      [](Draw& draw) {
        const int64_t start = draw.between(0, 60), step = draw.between(1, 9), shown = draw.between(3, 5);
        std::vector<std::string> given, next;
        for (int64_t i = 0; i < shown; ++i) given.push_back(std::to_string(start + i * step));
        for (int64_t i = shown; i < shown + 2; ++i) next.push_back(std::to_string(start + i * step));
        return InstructionTask{"sequence", "Continue the sequence.", join(given, ", "), join(next, ", ")};
      },
      [](Draw& draw) {
        // Every letter, every second or every third, lower or upper case.
        const int64_t step = draw.between(1, 3), shown = draw.between(3, 5);
        const int64_t start = draw.between(0, 25 - (shown + 2) * step);
        const char a = draw.below(2) == 0 ? 'a' : 'A';
        std::vector<std::string> given, next;
        for (int64_t i = 0; i < shown; ++i) given.emplace_back(1, static_cast<char>(a + start + i * step));
        for (int64_t i = shown; i < shown + 3; ++i) next.emplace_back(1, static_cast<char>(a + start + i * step));
        return InstructionTask{"letters", "Continue the alphabet.", join(given, " "), join(next, " ")};
      },
      [](Draw& draw) {
        int64_t a = draw.between(10, 999), b = draw.between(10, 999);
        while (b == a) b = draw.between(10, 999);
        return InstructionTask{"larger", "Which number is larger?", std::to_string(a) + ", " + std::to_string(b),
                               std::to_string(std::max(a, b))};
      },
      [](Draw& draw) {
        const std::string text = sentence(draw);
        const bool first = draw.below(2) == 0;
        const size_t space = first ? text.find(' ') : text.rfind(' ');
        return InstructionTask{"first_word", first ? "What is the first word of the sentence?"
                                                   : "What is the last word of the sentence?",
                               text, first ? text.substr(0, space) : text.substr(space + 1)};
      },
      [](Draw& draw) {
        const std::string text = sentence(draw);
        return InstructionTask{"word_count", "How many words are in the sentence?", text,
                               std::to_string(word_count(text))};
      },
  };
  return all;
}

}  // namespace

InstructionTaskSplits generate_instruction_tasks(uint64_t seed, int64_t train, int64_t valid, int64_t test) {
  Draw draw(seed);
  std::set<std::pair<std::string, std::string>> seen;
  // Test first, then valid, then train: each split takes the kinds in turn. The held-out splits
  // skip a pair already drawn; train may repeat its own pairs (the alphabet has ~200) but never
  // a held-out one.
  const auto fill = [&](int64_t count) {
    std::vector<InstructionTask> split;
    int64_t misses = 0;
    while (static_cast<int64_t>(split.size()) < count) {
      InstructionTask task = generators()[split.size() % generators().size()](draw);
      if (seen.insert({task.instruction, task.input}).second) {
        split.push_back(std::move(task));
        misses = 0;
      } else if (++misses > 100000) {
        throw std::logic_error("instruction tasks: a held-out split asks for more distinct " + task.kind +
                               " tasks than there are");
      }
    }
    return split;
  };
  InstructionTaskSplits splits;
  splits.test = fill(test);
  splits.valid = fill(valid);
  const std::set<std::pair<std::string, std::string>> held_out = seen;
  std::vector<InstructionTask> training;
  while (static_cast<int64_t>(training.size()) < train) {
    InstructionTask task = generators()[training.size() % generators().size()](draw);
    if (held_out.count({task.instruction, task.input})) continue;
    training.push_back(std::move(task));
  }
  splits.train = std::move(training);
  return splits;
}

std::string to_jsonl(const std::vector<InstructionTask>& tasks) {
  std::string out;
  for (const auto& task : tasks)
    out += nlohmann::json{{"instruction", task.instruction}, {"input", task.input}, {"output", task.output}}.dump() + "\n";
  return out;
}

}  // namespace zoo::datasets
