// The LM dataset factory, and which file of a data section tokenizers learn from.
#include "datasets/dataset.h"

#include "datasets/text.h"

namespace zoo::datasets {

Factory<std::shared_ptr<LMDataset>, const DataContext&>& lm_datasets() {
  static Factory<std::shared_ptr<LMDataset>, const DataContext&> factory("data");
  return factory;
}

std::string training_text_path(const Component& data) {
  if (data.type == "text") return data.as<TextOptions>().train;
  return "";  // a data type without a plain training text
}

}  // namespace zoo::datasets
