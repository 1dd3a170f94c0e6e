// Registers every tokenizer type with the factory (called from register_all()).
#include <filesystem>
#include <functional>

#include "core/checkpoint.h"
#include "core/error.h"
#include "tokenizers/char.h"
#include "tokenizers/sentencepiece.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/word.h"

namespace zoo::tokenizers {
namespace {

template <class Opts>
using Builder = std::function<std::shared_ptr<Tokenizer>(const Opts&, const std::string&)>;

void require_training_text(const std::string& type, const std::string& training_text_file) {
  if (training_text_file.empty())
    throw UserError("tokenizer " + type + ": learns its vocabulary from a training text, but tokenizer.train_on "
                    "names none; set it to data.train or a text file");
}

// `tokenizer: {type: saved, path: ...}`: the tokenizer of another run, for fine-tuning from it.
struct SavedOptions : Options<SavedOptions>, TokenizerOptionsBase {
  std::string path;

  template <class V>
  void visit(V& v) {
    v("path", path, "a run directory (its best checkpoint's tokenizer, else the latest's) or a saved tokenizer's "
      "directory", required());
  }
};

// The tokenizer directory `path` names: itself, or a run's best (else latest) checkpoint's.
std::string saved_tokenizer_dir(const std::string& path) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(fs::path(path) / kTokenizerFile)) return path;
  if (!fs::is_directory(path))
    throw UserError("tokenizer.path: '" + path + "' is not a directory; name a run (runs/NAME) or a tokenizer directory");
  auto checkpoint = find_checkpoint(path, "best");
  if (!checkpoint) checkpoint = find_checkpoint(path, "latest");
  if (!checkpoint)
    throw UserError("tokenizer.path: " + path + " holds neither a tokenizer.json nor a run's checkpoints");
  return (fs::path(*checkpoint) / "tokenizer").string();
}

}  // namespace

void register_tokenizers() {
  tokenizers().add<SavedOptions>(
      "saved", "a tokenizer saved by another run (fine-tuning keeps the pretrained vocabulary)",
      Builder<SavedOptions>([](const SavedOptions& options, const std::string&) -> std::shared_ptr<Tokenizer> {
        return load_tokenizer(saved_tokenizer_dir(options.path));
      }));
  tokenizers().add<CharOptions>(
      "char", "one token per Unicode character of the training text (id 0: unknown)",
      Builder<CharOptions>([](const CharOptions& options, const std::string& training_text_file) -> std::shared_ptr<Tokenizer> {
        require_training_text("char", training_text_file);
        return CharTokenizer::fit_file(training_text_file, parse_specials(options.special_tokens, "tokenizer.special_tokens"));
      }));
  tokenizers().add<WordOptions>(
      "word", "one token per word or punctuation mark of the training text (id 0: unknown)",
      Builder<WordOptions>([](const WordOptions& options, const std::string& training_text_file) -> std::shared_ptr<Tokenizer> {
        require_training_text("word", training_text_file);
        return WordTokenizer::fit_file(training_text_file, options);
      }));
  tokenizers().add<SentencePieceOptions>(
      "sentencepiece", "SentencePiece BPE or unigram subwords learnt from the training text (unk 0, bos 1, eos 2)",
      Builder<SentencePieceOptions>([](const SentencePieceOptions& options, const std::string& training_text_file) -> std::shared_ptr<Tokenizer> {
        require_training_text("sentencepiece", training_text_file);
        return SentencePieceTokenizer::fit_file(options, training_text_file);
      }));
}

}  // namespace zoo::tokenizers
