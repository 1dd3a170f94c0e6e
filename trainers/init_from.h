// Starting a run from another run's weights (`trainer.init_from`): a fine-tuned classifier from
// a pretrained encoder, later SFT from a pretrained language model. Weights are matched by
// parameter name and shape; what was loaded, what starts fresh and what the checkpoint had
// that the model does not use are logged.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace zoo::trainers {

// The checkpoint directory `init_from` names: a run directory (its `which` checkpoint: best,
// latest or step_N; best falls back to latest) or a checkpoint directory itself. `key` names the
// recipe key in errors.
std::string resolve_init_checkpoint(const std::string& init_from, const std::string& which, const std::string& key);

// A UserError naming both tokenizers when `ours` would give other ids than the tokenizer saved
// in `checkpoint_dir` (of the run `init_from`): the pretrained embeddings would then be read
// with the wrong ids.
void require_same_vocabulary(const tokenizers::Tokenizer& ours, const std::string& checkpoint_dir,
                             const std::string& init_from, const std::string& key);

struct InitReport {
  std::vector<std::string> loaded;      // model parameters copied from the checkpoint
  std::vector<std::string> fresh;       // model parameters kept at their initialisation
  std::vector<std::string> mismatched;  // in both, with other shapes (kept fresh): "name (ckpt [..] vs model [..])"
  std::vector<std::string> unused;      // checkpoint tensors the model has no place for
};

// Copies every parameter of `model` found with the same shape in checkpoint_dir/model.pt,
// except those `keep_fresh(name)` keeps at their initialisation (task heads), and logs the
// report in a few lines. Nothing loaded at all is a UserError: the checkpoint is of another model.
InitReport load_pretrained(torch::nn::Module& model, const std::string& checkpoint_dir,
                           const std::function<bool(const std::string&)>& keep_fresh, bool log = true);

// trainer.init_from and trainer.init_checkpoint of a trainer that starts a whole model from a
// run (lm, sft), read flat in its section.
struct InitFromOptions {
  std::string init_from;
  std::string init_checkpoint = "best";

  template <class V>
  void visit(V& v, const char* help) {
    v("init_from", init_from, help);
    v("init_checkpoint", init_checkpoint, "which checkpoint of init_from: best, latest or step_N");
  }
};

// Loads init_from's checkpoint into `model` (every parameter found by name and shape) after
// checking the tokenizer gives the same ids, and returns that checkpoint's directory; nothing
// (and "") when init_from is empty or the objective is rebuilt from its own checkpoint
// (`own_checkpoint` non-empty), whose weights load instead.
std::string init_whole_model(torch::nn::Module& model, const tokenizers::Tokenizer& tokenizer,
                             const InitFromOptions& options, const std::string& own_checkpoint);

// "embeddings (5), layers (48)": names grouped by their first component, for the log.
std::string summarize_names(const std::vector<std::string>& names);

}  // namespace zoo::trainers
