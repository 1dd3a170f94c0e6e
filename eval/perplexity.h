// Perplexity from a summed negative log-likelihood, per token and per character and word of the
// text those tokens spell: models with different tokenizers compare fairly only on text units.
#pragma once

#include <cstdint>
#include <string>

namespace zoo::eval {

struct TextUnits {
  int64_t characters = 0;  // Unicode code points
  int64_t words = 0;       // maximal runs of non-whitespace
};

TextUnits count_units(const std::string& utf8_text);

struct Perplexity {
  double nll = 0;       // natural-log loss summed over the predicted tokens
  int64_t tokens = 0;   // predicted tokens
  TextUnits units;      // of the text the predicted tokens spell

  double per_token() const;
  double per_character() const;
  double per_word() const;
  double bits_per_character() const;
};

}  // namespace zoo::eval
