#include "eval/perplexity.h"

#include <cmath>
#include <limits>

namespace zoo::eval {
namespace {

double exp_mean(double total, int64_t count) {
  return count > 0 ? std::exp(total / static_cast<double>(count)) : std::numeric_limits<double>::quiet_NaN();
}

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

TextUnits count_units(const std::string& utf8_text) {
  TextUnits units;
  bool in_word = false;
  for (unsigned char c : utf8_text) {
    if ((c & 0xC0) != 0x80) ++units.characters;  // continuation bytes belong to the character before
    const bool space = is_space(c);
    if (!space && !in_word) ++units.words;
    in_word = !space;
  }
  return units;
}

double Perplexity::per_token() const { return exp_mean(nll, tokens); }
double Perplexity::per_character() const { return exp_mean(nll, units.characters); }
double Perplexity::per_word() const { return exp_mean(nll, units.words); }
double Perplexity::bits_per_character() const {
  return units.characters > 0 ? nll / static_cast<double>(units.characters) / std::log(2.0)
                              : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace zoo::eval
