// Registers every data type with its factory (called from register_all()).
#include <functional>

#include "datasets/dataset.h"
#include "datasets/instructions.h"
#include "datasets/labelled.h"
#include "datasets/pairs.h"
#include "datasets/sentences.h"
#include "datasets/text.h"

namespace zoo::datasets {
namespace {

// The factory entry for a data type built by `Data(options, context)`.
template <class Data, class Opts>
void add(const std::string& name, const std::string& help) {
  datasets().add<Opts>(name, help,
                       std::function<std::shared_ptr<Dataset>(const Opts&, const DataContext&)>(
                           [](const Opts& options, const DataContext& context) -> std::shared_ptr<Dataset> {
                             return std::make_shared<Data>(options, context);
                           }));
}

}  // namespace

void register_datasets() {
  add<TextDataset, TextOptions>("text", "language-model windows of block_size tokens from a UTF-8 text file");
  add<ClassificationDataset, ClassificationOptions>("classification", "texts with one label each (.tsv, .jsonl)");
  add<TaggingDataset, TaggingOptions>("tagging", "sentences with one tag per word (CoNLL .conll/.txt/.tsv, .jsonl)");
  add<PairsDataset, PairsOptions>("pairs", "source/target text pairs for encoder-decoder models (.tsv, .jsonl)");
  add<InstructionsDataset, InstructionOptions>(
      "instructions", "instruction/response or chat examples for supervised fine-tuning (.jsonl)");
  add<PreferencesDataset, PreferenceOptions>("preferences",
                                             "prompts with a chosen and a rejected response (.jsonl)");
  add<PromptsDataset, PromptOptions>("prompts", "prompts for generation-driven training such as PPO (.jsonl, .txt)");
  add<SentencesDataset, SentencesOptions>(
      "sentences", "documents of one sentence a line for BERT pretraining, with optional next-sentence pairs (.txt)");
}

}  // namespace zoo::datasets
