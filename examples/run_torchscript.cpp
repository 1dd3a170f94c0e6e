// Greedy decoding from a `zoo export` archive with nothing but libtorch. The archive carries its
// vocabulary (zoo/vocab.txt: one escaped piece per line, line i = id i), enough to read a char
// model's prompt and to print any model's output.
//   run_torchscript runs/quickstart/export/model.pt "The jury said " 100
#include <torch/script.h>

#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

// zoo/vocab.txt writes a newline as \n and a backslash as \\.
std::string unescape(const std::string& line) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) out += line[++i] == 'n' ? '\n' : line[i];
    else out += line[i];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: run_torchscript MODEL.pt PROMPT NEW_TOKENS\n";
    return 2;
  }
  torch::jit::ExtraFilesMap extra{{"zoo/vocab.txt", ""}, {"zoo/manifest.json", ""}};
  torch::jit::Module model = torch::jit::load(argv[1], torch::kCPU, extra);
  std::vector<std::string> pieces;
  std::map<std::string, int64_t> ids;
  std::istringstream vocab(extra["zoo/vocab.txt"]);
  for (std::string line; std::getline(vocab, line);) {
    ids.emplace(unescape(line), static_cast<int64_t>(pieces.size()));
    pieces.push_back(unescape(line));
  }
  const std::string& manifest = extra["zoo/manifest.json"];
  const auto context = std::stoll(manifest.substr(manifest.find(':', manifest.find("\"context_length\"")) + 1));

  // One UTF-8 character at a time, as the char tokenizer reads; unknown characters are id 0.
  std::vector<int64_t> tokens;
  const std::string prompt = argv[2];
  for (size_t i = 0; i < prompt.size();) {
    size_t length = 1;
    while (i + length < prompt.size() && (static_cast<unsigned char>(prompt[i + length]) & 0xC0) == 0x80) ++length;
    auto found = ids.find(prompt.substr(i, length));
    tokens.push_back(found == ids.end() ? 0 : found->second);
    i += length;
  }

  torch::NoGradGuard no_grad;
  size_t start = tokens.size() > static_cast<size_t>(context) ? tokens.size() - context : 0;
  for (int step = 0; step < std::stoi(argv[3]); ++step) {
    std::vector<int64_t> window(tokens.begin() + static_cast<std::ptrdiff_t>(start), tokens.end());
    auto logits = model.forward({torch::tensor(window).view({1, -1})}).toTensor();  // (1, T, vocab)
    tokens.push_back(logits[0][-1].argmax().item<int64_t>());
    if (tokens.size() - start > static_cast<size_t>(context)) start = tokens.size() - context / 2;  // as zoo does
  }
  for (int64_t token : tokens) std::cout << pieces.at(static_cast<size_t>(token));
  std::cout << "\n";
}
