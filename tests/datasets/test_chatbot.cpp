// The chatbot's template conversations: deterministic, every name question answered from the
// conversation so far, the scripted names absent from train and valid, and the scripted file's
// reader with its errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "datasets/chatbot.h"

namespace fs = std::filesystem;
using zoo::datasets::generate_chatbot_corpus;

namespace {

std::vector<std::pair<std::string, std::string>> pairs(const std::string& tsv) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(tsv);
  for (std::string line; std::getline(in, line);) {
    auto tab = line.find('\t');
    out.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return out;
}

fs::path write(const std::string& name, const std::string& text) {
  auto path = fs::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST(Chatbot, ContextsJoinTheUserTurns) {
  EXPECT_EQ(zoo::datasets::chat_context({"hi", "my name is ada"}), "hi | my name is ada");
  EXPECT_EQ(zoo::datasets::chat_context({}), "");
}

TEST(Chatbot, TheCorpusIsTheSameEveryTime) {
  auto a = generate_chatbot_corpus(50, 10), b = generate_chatbot_corpus(50, 10);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.valid, b.valid);
  EXPECT_EQ(a.conversations, b.conversations);
}

// Every "your name is X" reply names the latest introduction in its context, and every
// "you have not told me" reply has none: the reply follows from the context alone.
TEST(Chatbot, NameAnswersFollowFromTheContext) {
  auto corpus = generate_chatbot_corpus(400, 20);
  const std::regex introduction(R"((?:my name is|i am|call me|i'm) ([a-z]+)(?: \||$))");
  int answered = 0, untold = 0;
  for (const auto& [context, reply] : pairs(corpus.train)) {
    std::string last_name;
    for (std::sregex_iterator it(context.begin(), context.end(), introduction), end; it != end; ++it)
      last_name = (*it)[1];
    if (reply.rfind("your name is ", 0) == 0) {
      EXPECT_EQ(reply, "your name is " + last_name + ".") << context;
      ++answered;
    } else if (reply == "you have not told me your name.") {
      EXPECT_EQ(last_name, "") << context;
      ++untold;
    }
  }
  EXPECT_GT(answered, 200);
  EXPECT_GT(untold, 10);
}

// A name per conversation: a model cannot memorise the names, it has to copy them.
TEST(Chatbot, NoTwoConversationsShareAName) {
  auto corpus = generate_chatbot_corpus(2000, 100);
  std::map<std::string, std::set<int>> conversations_of;  // answered name -> conversations it answers in
  int conversation = -1;
  for (const auto& [context, reply] : pairs(corpus.train)) {
    if (context.find(" | ") == std::string::npos) ++conversation;  // a first turn opens a conversation
    const std::string prefix = "your name is ";
    if (reply.rfind(prefix, 0) == 0) conversations_of[reply.substr(prefix.size())].insert(conversation);
  }
  EXPECT_GT(conversations_of.size(), 600u);
  for (const auto& [name, where] : conversations_of) EXPECT_EQ(where.size(), 1u) << name;
}

TEST(Chatbot, ScriptedNamesNeverOccurInTrainingOrValidation) {
  auto corpus = generate_chatbot_corpus(2000, 100);
  auto path = write("zoo_chatbot_conversations.txt", corpus.conversations);
  auto conversations = zoo::datasets::read_conversations(path.string());
  ASSERT_EQ(conversations.size(), 10u);
  for (const auto& conversation : conversations) {
    ASSERT_FALSE(conversation.expected.empty());
    EXPECT_GE(conversation.turns.size(), 5u);
    const auto& last = conversation.turns.back();  // the question about the name comes last
    EXPECT_TRUE(last.find("name") != std::string::npos || last == "who am i?") << last;
    const std::string word = " " + conversation.expected;
    EXPECT_EQ(corpus.train.find(word + " "), std::string::npos) << conversation.expected;
    EXPECT_EQ(corpus.train.find(word + "\t"), std::string::npos) << conversation.expected;
    EXPECT_EQ(corpus.valid.find(word + " "), std::string::npos) << conversation.expected;
  }
  fs::remove(path);
}

TEST(Chatbot, AMalformedConversationsFileNamesItsLine) {
  auto path = write("zoo_chatbot_bad.txt", "> hi\n= \nhello there\n");
  try {
    zoo::datasets::read_conversations(path.string());
    FAIL() << "no error";
  } catch (const zoo::UserError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ":3: expected '> what the user says'"), std::string::npos)
        << e.what();
  }
  fs::remove(path);
}
