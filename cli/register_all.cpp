#include "cli/register_all.h"

#include "datasets/dataset.h"
#include "models/model.h"
#include "tokenizers/tokenizer.h"
#include "trainers/loop.h"

namespace zoo {

void register_all() {
  static bool registered = false;
  if (registered) return;
  registered = true;
  tokenizers::register_tokenizers();
  datasets::register_datasets();
  models::register_models();
  trainers::register_trainers();
}

}  // namespace zoo
