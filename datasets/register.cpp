// Registers every data type with its factory (called from register_all()).
#include <functional>

#include "datasets/dataset.h"
#include "datasets/text.h"

namespace zoo::datasets {

void register_datasets() {
  lm_datasets().add<TextOptions>(
      "text", "language-model windows of block_size tokens from a UTF-8 text file",
      std::function<std::shared_ptr<LMDataset>(const TextOptions&, const DataContext&)>(
          [](const TextOptions& options, const DataContext& context) -> std::shared_ptr<LMDataset> {
            return std::make_shared<TextDataset>(options, context);
          }));
}

}  // namespace zoo::datasets
