#include "eval/text_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>

#include "tokenizers/utf8.h"

namespace zoo::eval {
namespace {

constexpr int kBleuOrder = 4;

// Python's str.isspace() code points: str.split(), which sacreBLEU splits with, splits on them.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Byte length of the whitespace character starting at text[pos]; 0 when it is not whitespace.
size_t space_length(const std::string& text, size_t pos) {
  size_t next = pos;
  char32_t code_point = 0;
  return tokenizers::decode_utf8(text, next, code_point) && is_python_space(code_point) ? next - pos : 0;
}

// `text` without whitespace at its end, and at its start too when `both_ends`.
std::string strip(const std::string& text, bool both_ends) {
  size_t begin = std::string::npos, end = 0;
  for (size_t pos = 0; pos < text.size();) {
    if (const size_t space = space_length(text, pos)) {
      pos += space;
      continue;
    }
    if (begin == std::string::npos) begin = pos;
    end = ++pos;  // a continuation byte is never whitespace, so byte steps stay in the word
  }
  if (!both_ends) begin = 0;
  return begin == std::string::npos || begin >= end ? "" : text.substr(begin, end - begin);
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

std::string join(const Words& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

template <typename Segment>
void check_streams(size_t hypotheses, const std::vector<std::vector<Segment>>& references, const char* metric) {
  if (references.empty()) throw std::invalid_argument(std::string(metric) + ": no reference stream given");
  for (size_t k = 0; k < references.size(); ++k)
    if (references[k].size() != hypotheses)
      throw std::invalid_argument(std::string(metric) + ": " + std::to_string(hypotheses) + " hypotheses but reference stream " +
                                  std::to_string(k) + " has " + std::to_string(references[k].size()) +
                                  " segments (references[k][i] is the k-th reference of hypothesis i)");
}

// ---- BLEU ----

using NgramCounts = std::map<Words, int64_t>;

NgramCounts word_ngrams(const Words& words) {
  NgramCounts counts;
  for (int n = 1; n <= kBleuOrder; ++n)
    for (size_t i = 0; i + static_cast<size_t>(n) <= words.size(); ++i)
      ++counts[Words(words.begin() + static_cast<std::ptrdiff_t>(i), words.begin() + static_cast<std::ptrdiff_t>(i) + n)];
  return counts;
}

// sacreBLEU's tie-break: the closest length, the shorter of two equally close.
int64_t closest_length(int64_t hyp_length, const std::vector<int64_t>& ref_lengths) {
  int64_t best = -1, best_diff = -1;
  for (int64_t length : ref_lengths) {
    const int64_t diff = std::abs(hyp_length - length);
    if (best_diff == -1 || diff < best_diff || (diff == best_diff && length < best)) {
      best_diff = diff;
      best = length;
    }
  }
  return best;
}

// A segment as sacreBLEU's BLEU scores it: right-stripped, tokenized, split on whitespace.
Words bleu_words(const std::string& text, bool tokenize) {
  const std::string stripped = strip(text, /*both_ends=*/false);
  return split_words(tokenize ? tokenize_13a(stripped) : stripped);
}

// ---- chrF ----

// Counts of character (code point) n-grams of orders 1..char_order.
std::vector<std::map<std::u32string, int64_t>> char_ngrams(const std::string& text, const ChrfOptions& options) {
  std::u32string line;
  char32_t code_point = 0;
  for (size_t pos = 0; pos < text.size();) {
    if (!tokenizers::decode_utf8(text, pos, code_point)) code_point = 0xFFFD;
    if (options.whitespace || !is_python_space(code_point)) line.push_back(code_point);
  }
  std::vector<std::map<std::u32string, int64_t>> counts(static_cast<size_t>(options.char_order));
  for (size_t n = 1; n <= counts.size(); ++n)
    for (size_t i = 0; i + n <= line.size(); ++i) ++counts[n - 1][line.substr(i, n)];
  return counts;
}

// [hyp, ref, match] counts per order, flattened.
using ChrfStatistics = std::vector<int64_t>;

double chrf_from_statistics(const ChrfStatistics& stats, const ChrfOptions& options) {
  constexpr double eps = 1e-16;
  const double factor = options.beta * options.beta;
  double score = 0, average_precision = 0, average_recall = 0;
  int effective_order = 0;
  for (size_t i = 0; i < static_cast<size_t>(options.char_order); ++i) {
    const auto hyp = static_cast<double>(stats[3 * i]), ref = static_cast<double>(stats[3 * i + 1]),
               match = static_cast<double>(stats[3 * i + 2]);
    const double precision = hyp > 0 ? match / hyp : eps;
    const double recall = ref > 0 ? match / ref : eps;
    const double denominator = factor * precision + recall;
    score += denominator > 0 ? (1 + factor) * precision * recall / denominator : eps;
    // sacreBLEU 2 averages precision and recall over the orders both sides have, then takes F.
    if (hyp > 0 && ref > 0) {
      average_precision += precision;
      average_recall += recall;
      ++effective_order;
    }
  }
  if (options.eps_smoothing) return 100 * score / options.char_order;
  if (effective_order == 0) return 0.0;
  average_precision /= effective_order;
  average_recall /= effective_order;
  if (average_precision + average_recall == 0) return 0.0;
  return 100 * (1 + factor) * average_precision * average_recall / (factor * average_precision + average_recall);
}

}  // namespace

Words split_words(const std::string& text) {
  Words words;
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    const size_t space = space_length(text, pos);
    if (space == 0) {
      ++pos;  // a continuation byte is never whitespace, so byte steps stay in the word
      continue;
    }
    if (pos > start) words.push_back(text.substr(start, pos - start));
    pos += space;
    start = pos;
  }
  if (pos > start) words.push_back(text.substr(start));
  return words;
}

std::string tokenize_13a(const std::string& input) {
  std::string line = input;
  replace_all(line, "<skipped>", "");
  replace_all(line, "-\n", "");
  replace_all(line, "\n", " ");
  if (line.find('&') != std::string::npos) {
    replace_all(line, "&quot;", "\"");
    replace_all(line, "&amp;", "&");
    replace_all(line, "&lt;", "<");
    replace_all(line, "&gt;", ">");
  }
  line = " " + line + " ";
  // mteval-v13a's rules, in order: ASCII punctuation other than ' , - . is split off; periods
  // and commas are split unless next to a digit on that side; a dash after a digit is split.
  // Matching bytes rather than code points gives the same result: the classes are ASCII, and a
  // byte of a multi-byte character matches [^0-9] exactly where the character would.
  static const std::regex punctuation(R"(([{-~\[-\x60 -&(-+:-@/]))");
  static const std::regex period_after_non_digit(R"(([^0-9])([\.,]))");
  static const std::regex period_before_non_digit(R"(([\.,])([^0-9]))");
  static const std::regex dash_after_digit(R"(([0-9])(-))");
  line = std::regex_replace(line, punctuation, " $1 ");
  line = std::regex_replace(line, period_after_non_digit, "$1 $2 ");
  line = std::regex_replace(line, period_before_non_digit, " $1 $2");
  line = std::regex_replace(line, dash_after_digit, "$1 $2 ");
  return join(split_words(line));
}

BleuScore bleu_from_counts(const std::array<int64_t, 4>& correct, const std::array<int64_t, 4>& total,
                           int64_t hyp_length, int64_t ref_length) {
  BleuScore bleu;
  bleu.correct = correct;
  bleu.total = total;
  bleu.hyp_length = hyp_length;
  bleu.ref_length = ref_length;
  bleu.ratio = ref_length > 0 ? static_cast<double>(hyp_length) / static_cast<double>(ref_length) : 0.0;
  bleu.brevity_penalty = hyp_length >= ref_length ? 1.0
                         : hyp_length > 0 ? std::exp(1.0 - static_cast<double>(ref_length) / static_cast<double>(hyp_length))
                                          : 0.0;
  if (std::all_of(correct.begin(), correct.end(), [](int64_t c) { return c == 0; })) return bleu;  // score 0
  // mteval's smoothing: the k-th order with no match counts as 1 / (2^k * total).
  double smoothing = 1.0, log_sum = 0.0;
  for (size_t n = 0; n < kBleuOrder; ++n) {
    if (total[n] == 0) break;  // sacreBLEU stops at the first empty order; its precision stays 0
    if (correct[n] == 0) {
      smoothing *= 2;
      bleu.precisions[n] = 100.0 / (smoothing * static_cast<double>(total[n]));
    } else {
      bleu.precisions[n] = 100.0 * static_cast<double>(correct[n]) / static_cast<double>(total[n]);
    }
  }
  // sacreBLEU's my_log(0) is -9999999999, which makes a score with an empty order exp(-huge) = 0.
  for (double p : bleu.precisions) log_sum += p > 0 ? std::log(p) : -9999999999.0;
  bleu.score = bleu.brevity_penalty * std::exp(log_sum / kBleuOrder);
  return bleu;
}

BleuScore corpus_bleu_tokens(const std::vector<Words>& hypotheses, const std::vector<std::vector<Words>>& references) {
  check_streams(hypotheses.size(), references, "corpus_bleu");
  std::array<int64_t, 4> correct{}, total{};
  int64_t hyp_length = 0, ref_length = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    NgramCounts clip;  // the most times any one reference holds each n-gram
    std::vector<int64_t> ref_lengths;
    for (const auto& stream : references) {
      ref_lengths.push_back(static_cast<int64_t>(stream[i].size()));
      for (const auto& [ngram, count] : word_ngrams(stream[i])) clip[ngram] = std::max(clip[ngram], count);
    }
    const Words& hyp = hypotheses[i];
    hyp_length += static_cast<int64_t>(hyp.size());
    ref_length += closest_length(static_cast<int64_t>(hyp.size()), ref_lengths);
    for (const auto& [ngram, count] : word_ngrams(hyp)) {
      const size_t n = ngram.size() - 1;
      total[n] += count;
      auto found = clip.find(ngram);
      if (found != clip.end()) correct[n] += std::min(count, found->second);
    }
  }
  return bleu_from_counts(correct, total, hyp_length, ref_length);
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references,
                      const std::string& tokenize) {
  if (tokenize != "13a" && tokenize != "none")
    throw std::invalid_argument("corpus_bleu: tokenize is '" + tokenize + "'; it must be '13a' or 'none'");
  check_streams(hypotheses.size(), references, "corpus_bleu");
  const bool use_13a = tokenize == "13a";
  std::vector<Words> hyp_words;
  for (const auto& hyp : hypotheses) hyp_words.push_back(bleu_words(hyp, use_13a));
  std::vector<std::vector<Words>> ref_words(references.size());
  for (size_t k = 0; k < references.size(); ++k)
    for (const auto& ref : references[k]) ref_words[k].push_back(bleu_words(ref, use_13a));
  return corpus_bleu_tokens(hyp_words, ref_words);
}

double corpus_chrf(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references,
                   const ChrfOptions& options) {
  if (options.char_order <= 0) throw std::invalid_argument("corpus_chrf: char_order must be positive");
  check_streams(hypotheses.size(), references, "corpus_chrf");
  ChrfStatistics corpus(static_cast<size_t>(3 * options.char_order), 0);
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    const auto hyp = char_ngrams(hypotheses[i], options);
    ChrfStatistics best;
    double best_f = -1.0;
    for (const auto& stream : references) {
      const auto ref = char_ngrams(stream[i], options);
      ChrfStatistics stats;
      for (size_t n = 0; n < hyp.size(); ++n) {
        int64_t hyp_count = 0, ref_count = 0, match = 0;
        for (const auto& [gram, count] : ref[n]) ref_count += count;
        for (const auto& [gram, count] : hyp[n]) {
          hyp_count += count;
          auto found = ref[n].find(gram);
          if (found != ref[n].end()) match += std::min(count, found->second);
        }
        // sacreBLEU counts no hypothesis n-grams of an order the reference lacks.
        stats.insert(stats.end(), {ref[n].empty() ? 0 : hyp_count, ref_count, match});
      }
      const double f = chrf_from_statistics(stats, options);
      if (f > best_f) {  // the first of equally good references, as sacreBLEU
        best_f = f;
        best = stats;
      }
    }
    for (size_t k = 0; k < corpus.size(); ++k) corpus[k] += best[k];
  }
  return chrf_from_statistics(corpus, options);
}

double exact_match(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references) {
  if (hypotheses.size() != references.size())
    throw std::invalid_argument("exact_match: " + std::to_string(hypotheses.size()) + " hypotheses but " +
                                std::to_string(references.size()) + " references");
  if (hypotheses.empty()) return 0.0;
  int64_t equal = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i)
    equal += strip(hypotheses[i], /*both_ends=*/true) == strip(references[i], /*both_ends=*/true);
  return static_cast<double>(equal) / static_cast<double>(hypotheses.size());
}

int64_t edit_distance(const Words& hypothesis, const Words& reference) {
  // One row of the Wagner-Fischer table at a time.
  std::vector<int64_t> previous(reference.size() + 1), current(reference.size() + 1);
  for (size_t j = 0; j <= reference.size(); ++j) previous[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= hypothesis.size(); ++i) {
    current[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= reference.size(); ++j) {
      const int64_t substitute = previous[j - 1] + (hypothesis[i - 1] == reference[j - 1] ? 0 : 1);
      current[j] = std::min({substitute, previous[j] + 1, current[j - 1] + 1});
    }
    std::swap(previous, current);
  }
  return previous[reference.size()];
}

ErrorRate error_rate(const std::vector<Words>& hypotheses, const std::vector<Words>& references) {
  if (hypotheses.size() != references.size())
    throw std::invalid_argument("error_rate: " + std::to_string(hypotheses.size()) + " hypotheses but " +
                                std::to_string(references.size()) + " references");
  ErrorRate result;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    result.edits += edit_distance(hypotheses[i], references[i]);
    result.reference_tokens += static_cast<int64_t>(references[i].size());
  }
  result.rate = result.reference_tokens > 0 ? static_cast<double>(result.edits) / static_cast<double>(result.reference_tokens) : 0.0;
  return result;
}

ErrorRate word_error_rate(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references) {
  std::vector<Words> hyp, ref;
  for (const auto& h : hypotheses) hyp.push_back(split_words(h));
  for (const auto& r : references) ref.push_back(split_words(r));
  return error_rate(hyp, ref);
}

double distinct_n(const std::vector<Words>& generations, int n) {
  if (n <= 0) throw std::invalid_argument("distinct_n: n is " + std::to_string(n) + "; it must be positive");
  std::set<Words> unique;
  int64_t total = 0;
  for (const auto& words : generations)
    for (size_t i = 0; i + static_cast<size_t>(n) <= words.size(); ++i, ++total)
      unique.emplace(words.begin() + static_cast<std::ptrdiff_t>(i), words.begin() + static_cast<std::ptrdiff_t>(i) + n);
  return total > 0 ? static_cast<double>(unique.size()) / static_cast<double>(total) : 0.0;
}

double self_bleu(const std::vector<std::string>& generations) {
  if (generations.size() < 2)
    throw std::invalid_argument("self_bleu: " + std::to_string(generations.size()) + " generation(s); it needs two or more");
  // Tokenize once: every generation is a reference of all the others.
  std::vector<Words> words;
  for (const auto& text : generations) words.push_back(bleu_words(text, /*tokenize=*/true));
  double sum = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    std::vector<std::vector<Words>> others;  // one reference stream per other generation
    for (size_t j = 0; j < words.size(); ++j)
      if (j != i) others.push_back({words[j]});
    sum += corpus_bleu_tokens({words[i]}, others).score;
  }
  return sum / static_cast<double>(generations.size());
}

}  // namespace zoo::eval
