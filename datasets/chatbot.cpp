// The chatbot's template conversations: a small dialogue state (the user's name and favourite
// colour) and one reply rule per kind of turn.
#include "datasets/chatbot.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <random>
#include <set>

#include "core/error.h"

namespace zoo::datasets {

std::string chat_context(const std::vector<std::string>& user_turns) {
  std::string context;
  for (const auto& turn : user_turns) context += (context.empty() ? "" : " | ") + turn;
  return context;
}

namespace {

// Names the scripted test conversations use; generated names never equal one of them.
const std::vector<std::string> kScriptedNames = {"alice", "oliver", "sophia", "james", "emma",
                                                 "lucas", "mia",    "henry",  "grace", "daniel"};
const std::vector<std::string> kColours = {"red", "blue", "green", "yellow", "purple", "orange", "black", "white"};
const std::vector<std::string> kDays = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  size_t below(size_t n) { return static_cast<size_t>(engine_() % n); }
  bool chance(double p) { return static_cast<double>(engine_() >> 11) * 0x1.0p-53 < p; }
  template <class T>
  T pick(const std::vector<T>& items) { return items[below(items.size())]; }  // a copy: items may be a temporary

 private:
  std::mt19937_64 engine_;
};

// "kalo", "miren", "chujay": two or three consonant-vowel syllables, sometimes a final
// consonant; or, a third of the time, 3 to 7 letters drawn uniformly ("qzeuvb"), so that no
// spelling habit can stand in for reading the name off the context.
std::string generated_name(Random& random) {
  if (random.chance(1.0 / 3.0)) {
    std::string name(3 + random.below(5), 'a');
    for (auto& c : name) c = static_cast<char>('a' + random.below(26));
    return name;
  }
  static const std::vector<std::string> consonants = {"b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p",
                                                      "q", "r", "s", "t", "v", "w", "x", "y", "z", "ch", "ph", "gr"};
  static const std::string vowels = "aeiouy", finals = "nlrsyx";
  std::string name;
  const size_t syllables = 2 + random.below(2);
  for (size_t s = 0; s < syllables; ++s) {
    if (s > 0 || random.chance(0.8)) name += random.pick(consonants);
    name += vowels[random.below(vowels.size())];
  }
  if (random.chance(0.3)) name += finals[random.below(finals.size())];
  return name;
}

// `count` distinct generated names none of which is in `taken`; they are added to it.
std::vector<std::string> fresh_names(Random& random, size_t count, std::set<std::string>& taken) {
  std::vector<std::string> names;
  while (names.size() < count) {
    std::string name = generated_name(random);
    if (taken.insert(name).second) names.push_back(name);
  }
  return names;
}

struct DialogueState {
  std::optional<std::string> name, colour;
};

enum class Turn { greet, introduce, ask_name, colour, ask_colour, how_are_you, next_day, add, thanks, bye };

// The user's words for a turn and the bot's reply, updating the state.
std::pair<std::string, std::string> say(Turn turn, DialogueState& state, const std::string& name, Random& random) {
  switch (turn) {
    case Turn::greet:
      return {random.pick<std::string>({"hi", "hello", "hey", "good morning", "hi there"}),
              state.name ? fmt::format("hello again, {}!", *state.name) : "hello! what is your name?"};
    case Turn::introduce: {
      state.name = name;
      const std::string form = random.pick<std::string>({"my name is {}", "i am {}", "call me {}", "i'm {}"});
      return {fmt::format(fmt::runtime(form), name), fmt::format("nice to meet you, {}.", name)};
    }
    case Turn::ask_name:
      return {random.pick<std::string>({"what's my name?", "what is my name?", "do you remember my name?", "who am i?"}),
              state.name ? fmt::format("your name is {}.", *state.name) : "you have not told me your name."};
    case Turn::colour: {
      state.colour = random.pick(kColours);
      const std::string form = random.pick<std::string>({"my favourite colour is {}", "i like {}"});
      return {fmt::format(fmt::runtime(form), *state.colour), fmt::format("{} is a nice colour.", *state.colour)};
    }
    case Turn::ask_colour:
      return {random.pick<std::string>({"what is my favourite colour?", "which colour do i like?"}),
              state.colour ? fmt::format("your favourite colour is {}.", *state.colour)
                           : "you have not told me your favourite colour."};
    case Turn::how_are_you:
      return {random.pick<std::string>({"how are you?", "how are you doing?"}), "i am fine, thank you."};
    case Turn::next_day: {
      const size_t day = random.below(kDays.size());
      return {fmt::format("what day comes after {}?", kDays[day]),
              fmt::format("{} comes after {}.", kDays[(day + 1) % kDays.size()], kDays[day])};
    }
    case Turn::add: {
      const size_t a = random.below(10), b = random.below(10);
      return {fmt::format("what is {} plus {}?", a, b), fmt::format("{} plus {} is {}.", a, b, a + b)};
    }
    case Turn::thanks:
      return {random.pick<std::string>({"thank you", "thanks"}), "you are welcome."};
    case Turn::bye:
      return {random.pick<std::string>({"bye", "goodbye"}),
              state.name ? fmt::format("goodbye, {}!", *state.name) : "goodbye!"};
  }
  return {};
}

const std::vector<Turn> kSmallTalk = {Turn::how_are_you, Turn::next_day, Turn::add,       Turn::thanks,
                                      Turn::colour,      Turn::ask_colour, Turn::ask_name};

// One conversation of 5 to 10 user turns as (context, reply) pairs appended to `tsv`: a
// greeting, usually an introduction early on, small talk, and questions about what was said.
void add_conversation(Random& random, const std::string& name, std::string& tsv) {
  const size_t turns = 5 + random.below(6);
  std::vector<Turn> plan;
  plan.push_back(Turn::greet);
  const bool introduces = random.chance(0.8);
  const size_t introduce_at = 1 + random.below(3);
  while (plan.size() < turns) {
    if (introduces && plan.size() == introduce_at) plan.push_back(Turn::introduce);
    else plan.push_back(random.pick(kSmallTalk));
  }
  // Most conversations ask for the name near the end, after the small talk in between.
  if (random.chance(0.7)) plan.back() = Turn::ask_name;
  else if (random.chance(0.3)) plan.back() = Turn::bye;

  DialogueState state;
  std::vector<std::string> said;
  for (Turn turn : plan) {
    auto [user, reply] = say(turn, state, name, random);
    said.push_back(user);
    tsv += chat_context(said) + "\t" + reply + "\n";
  }
}

// Ten conversations with the scripted names: a greeting, the introduction, two to five other
// turns, then the question whose answer is the name.
std::string scripted_conversations(Random& random) {
  std::string text =
      "# zoo chat --script: each conversation's last reply must contain the text after '='.\n"
      "# Names here never occur in train.tsv or valid.tsv.\n";
  for (const auto& name : kScriptedNames) {
    DialogueState state;
    std::vector<Turn> plan{Turn::greet, Turn::introduce};
    const size_t others = 2 + random.below(4);
    for (size_t i = 0; i < others; ++i) plan.push_back(random.pick<Turn>({Turn::how_are_you, Turn::next_day, Turn::add,
                                                                          Turn::thanks, Turn::colour}));
    plan.push_back(Turn::ask_name);
    text += "\n";
    for (Turn turn : plan) text += "> " + say(turn, state, name, random).first + "\n";
    text += "= " + name + "\n";
  }
  return text;
}

}  // namespace

std::vector<ScriptedConversation> read_conversations(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot read the conversations file");
  std::vector<ScriptedConversation> conversations;
  ScriptedConversation current;
  int64_t number = 0;
  auto close = [&] {
    if (!current.turns.empty()) conversations.push_back(current);
    current = {};
  };
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      close();
    } else if (line[0] == '#') {
      continue;
    } else if (line.rfind("> ", 0) == 0) {
      current.turns.push_back(line.substr(2));
    } else if (line.rfind("= ", 0) == 0) {
      if (current.turns.empty())
        throw UserError(fmt::format("{}:{}: an '= expected' line before any '> turn' line", path, number));
      current.expected = line.substr(2);
      close();
    } else {
      throw UserError(fmt::format("{}:{}: expected '> what the user says', '= text the last reply contains', a "
                                  "'#' comment or a blank line",
                                  path, number));
    }
  }
  close();
  if (conversations.empty()) throw UserError(path + ": no conversations ('> what the user says' lines)");
  return conversations;
}

ChatbotCorpus generate_chatbot_corpus(int64_t train_conversations, int64_t valid_conversations) {
  Random random(20261201);
  std::set<std::string> taken(kScriptedNames.begin(), kScriptedNames.end());
  // A name of its own for every conversation: a name met once cannot be memorised, only copied.
  const auto train_names = fresh_names(random, static_cast<size_t>(train_conversations), taken);
  const auto valid_names = fresh_names(random, static_cast<size_t>(valid_conversations), taken);
  ChatbotCorpus corpus;
  for (const auto& name : train_names) add_conversation(random, name, corpus.train);
  for (const auto& name : valid_names) add_conversation(random, name, corpus.valid);
  corpus.conversations = scripted_conversations(random);
  return corpus;
}

}  // namespace zoo::datasets
