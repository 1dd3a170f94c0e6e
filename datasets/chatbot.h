// Conversations for the course's week 3-4 chatbot, from a template generator: greetings,
// introductions ("my name is alice", "call me bob"), questions about what was said before
// ("what's my name?", "what is my favourite colour?"), small talk and simple questions, 5 to 10
// user turns each. Every bot reply follows from the conversation so far, so a model that keeps
// the context can answer; one that forgets cannot.
//
// `zoo data prepare chatbot` writes data/chatbot/{train,valid}.tsv as pairs (the context of
// the user turns so far, chat_context(), <TAB> the reply) and conversations.txt: 10 scripted
// conversations whose names never occur in train or valid, for `zoo chat --script`. Every
// train and valid conversation has a generated name of its own (random syllables or random
// letters), so a model can answer only by copying the name from the context; the scripted
// names are common English names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zoo::datasets {

// The model's input for a conversation: the user's turns, oldest first, joined by " | ".
std::string chat_context(const std::vector<std::string>& user_turns);

// One scripted conversation: the user's turns and the text the last reply must contain.
struct ScriptedConversation {
  std::vector<std::string> turns;
  std::string expected;  // empty: nothing is checked
};

// conversations.txt: "> user turn" lines, an "= expected" line closing each conversation, a
// blank line between conversations, "#" comments. A malformed line is a UserError at FILE:LINE.
std::vector<ScriptedConversation> read_conversations(const std::string& path);

// The contents of train.tsv, valid.tsv and conversations.txt, from a fixed seed.
struct ChatbotCorpus {
  std::string train, valid, conversations;
};
ChatbotCorpus generate_chatbot_corpus(int64_t train_conversations = 20000, int64_t valid_conversations = 600);

}  // namespace zoo::datasets
