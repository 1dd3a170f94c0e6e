// Registers every trainer type and the optimizers and schedules (called from register_all()).
#include "trainers/loop.h"

namespace zoo::trainers {

// Each defined beside its objective.
void register_lm_trainer();
void register_mlm_trainer();
void register_classify_trainer();
void register_seq2seq_trainer();
void register_sft_trainer();

void register_trainers() {
  register_optimizers();
  register_lm_trainer();
  register_mlm_trainer();
  register_classify_trainer();
  register_seq2seq_trainer();
  register_sft_trainer();
}

}  // namespace zoo::trainers
