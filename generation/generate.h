// Greedy decoding, sampling and beam search over a Decoder's cache, for a batch of prompts.
// Sampling and greedy decode every prompt (and every requested draw) as one left-padded batch,
// dropping sequences from it as they stop; beam search decodes one prompt's beams as a batch.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "generation/decoder.h"
#include "generation/logits.h"

namespace zoo::generation {

struct Sequence {
  Tokens ids;          // generated tokens, without the prompt or the stop token
  std::string text;    // decode(ids) cut before a stop string; empty when the request has no decode
  double log_prob = 0; // the model's log-probability of ids (temperature 1, no filters or penalties)
  double score = 0;    // beam: penalised log-probability / GNMT length penalty; otherwise log_prob
  std::string finish_reason;  // "length", "stop_token" or "stop_string"
};

struct Request {
  std::vector<Tokens> prompts;  // each non-empty
  GenerationOptions options;
  uint64_t seed = 0;
  Tokens stop_tokens;  // e.g. the tokenizer's end of sequence
  // Needed when options.stop lists stop strings, and to fill Sequence::text.
  std::function<std::string(const Tokens&)> decode;
  // Called with each token as it is chosen (greedy and sampling; beam search knows its
  // sequences only at the end).
  std::function<void(size_t prompt, size_t draw, int64_t token)> on_token;
};

// results[p] holds num_return_sequences sequences for prompts[p]; beam search orders them best
// first. Throws UserError for options that contradict each other.
std::vector<std::vector<Sequence>> generate(Decoder& decoder, const Request& request);

// GNMT's length penalty (Wu et al. 2016): ((5 + length) / 6)^alpha.
double length_penalty(int64_t length, double alpha);

}  // namespace zoo::generation
