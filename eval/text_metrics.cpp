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

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

std::string join(const Words& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

void check_streams(size_t hypotheses, const std::vector<std::vector<std::string>>& references, const char* metric) {
  if (references.empty()) throw std::invalid_argument(std::string(metric) + ": no reference stream");
  for (const auto& stream : references)
    if (stream.size() != hypotheses)
      throw std::invalid_argument(std::string(metric) + ": " + std::to_string(hypotheses) + " hypotheses but a reference stream of " +
                                  std::to_string(stream.size()));
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

// ---- chrF ----

std::u32string to_code_points(const std::string& utf8) {
  std::u32string out;
  char32_t code_point = 0;
  for (size_t pos = 0; pos < utf8.size();) {
    if (!tokenizers::decode_utf8(utf8, pos, code_point)) code_point = 0xFFFD;
    out.push_back(code_point);
  }
  return out;
}

// Counts of character n-grams of orders 1..max_order.
std::vector<std::map<std::u32string, int64_t>> char_ngrams(const std::string& text, const ChrfOptions& options) {
  std::string kept = options.whitespace ? text : "";
  if (!options.whitespace)
    for (const auto& word : split_words(text)) kept += word;
  const std::u32string line = to_code_points(kept);
  std::vector<std::map<std::u32string, int64_t>> counts(static_cast<size_t>(options.char_order));
  for (int n = 1; n <= options.char_order; ++n)
    for (size_t i = 0; i + static_cast<size_t>(n) <= line.size(); ++i) ++counts[static_cast<size_t>(n - 1)][line.substr(i, static_cast<size_t>(n))];
  return counts;
}

// [hyp, ref, match] per order, flattened.
using ChrfStatistics = std::vector<int64_t>;

double chrf_from_statistics(const ChrfStatistics& stats, const ChrfOptions& options) {
  constexpr double eps = 1e-16;
  const double factor = options.beta * options.beta;
  double score = 0, average_precision = 0, average_recall = 0;
  int effective_order = 0;
  for (int i = 0; i < options.char_order; ++i) {
    const auto hyp = static_cast<double>(stats[3 * i]), ref = static_cast<double>(stats[3 * i + 1]),
               match = static_cast<double>(stats[3 * i + 2]);
    const double precision = hyp > 0 ? match / hyp : eps;
    const double recall = ref > 0 ? match / ref : eps;
    const double denominator = factor * precision + recall;
    score += denominator > 0 ? (1 + factor) * precision * recall / denominator : eps;
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
  std::string current;
  for (char c : text) {
    if (is_space(c)) {
      if (!current.empty()) words.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) words.push_back(std::move(current));
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
  bleu.brevity_penalty = hyp_length >= ref_length ? 1.0 : hyp_length > 0 ? std::exp(1.0 - static_cast<double>(ref_length) / static_cast<double>(hyp_length)) : 0.0;
  if (std::all_of(correct.begin(), correct.end(), [](int64_t c) { return c == 0; })) return bleu;
  // mteval's smoothing: the k-th order with no match counts as 1 / (2^k * total).
  double smoothing = 1.0, log_sum = 0.0;
  for (int n = 0; n < kBleuOrder; ++n) {
    if (total[n] == 0) break;  // sacreBLEU stops at the first empty order; its precision stays 0
    if (correct[n] == 0) {
      smoothing *= 2;
      bleu.precisions[n] = 100.0 / (smoothing * static_cast<double>(total[n]));
    } else {
      bleu.precisions[n] = 100.0 * static_cast<double>(correct[n]) / static_cast<double>(total[n]);
    }
  }
  for (double p : bleu.precisions) log_sum += p > 0 ? std::log(p) : -9999999999.0;  // sacreBLEU's my_log
  bleu.score = bleu.brevity_penalty * std::exp(log_sum / kBleuOrder);
  return bleu;
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references,
                      const std::string& tokenize) {
  if (tokenize != "13a" && tokenize != "none") throw std::invalid_argument("corpus_bleu: tokenize must be 13a or none");
  check_streams(hypotheses.size(), references, "corpus_bleu");
  auto words_of = [&](const std::string& text) { return split_words(tokenize == "13a" ? tokenize_13a(text) : text); };
  std::array<int64_t, 4> correct{}, total{};
  int64_t hyp_length = 0, ref_length = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    NgramCounts clip;  // the most times any one reference holds each n-gram
    std::vector<int64_t> ref_lengths;
    for (const auto& stream : references) {
      Words ref = words_of(stream[i]);
      ref_lengths.push_back(static_cast<int64_t>(ref.size()));
      for (const auto& [ngram, count] : word_ngrams(ref)) clip[ngram] = std::max(clip[ngram], count);
    }
    Words hyp = words_of(hypotheses[i]);
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

double corpus_chrf(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references,
                   const ChrfOptions& options) {
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
      if (f > best_f) {
        best_f = f;
        best = stats;
      }
    }
    for (size_t k = 0; k < corpus.size(); ++k) corpus[k] += best[k];
  }
  return chrf_from_statistics(corpus, options);
}

double exact_match(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references) {
  if (hypotheses.size() != references.size()) throw std::invalid_argument("exact_match: hypotheses and references differ in number");
  if (hypotheses.empty()) return 0.0;
  int64_t equal = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    auto strip = [](const std::string& s) {
      size_t begin = 0, end = s.size();
      while (begin < end && is_space(s[begin])) ++begin;
      while (end > begin && is_space(s[end - 1])) --end;
      return s.substr(begin, end - begin);
    };
    equal += strip(hypotheses[i]) == strip(references[i]);
  }
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
  if (hypotheses.size() != references.size()) throw std::invalid_argument("error_rate: hypotheses and references differ in number");
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
  if (n <= 0) throw std::invalid_argument("distinct_n: n must be positive");
  std::set<Words> unique;
  int64_t total = 0;
  for (const auto& words : generations)
    for (size_t i = 0; i + static_cast<size_t>(n) <= words.size(); ++i, ++total)
      unique.emplace(words.begin() + static_cast<std::ptrdiff_t>(i), words.begin() + static_cast<std::ptrdiff_t>(i) + n);
  return total > 0 ? static_cast<double>(unique.size()) / static_cast<double>(total) : 0.0;
}

double self_bleu(const std::vector<std::string>& generations) {
  if (generations.size() < 2) throw std::invalid_argument("self_bleu: needs at least two generations");
  double sum = 0;
  for (size_t i = 0; i < generations.size(); ++i) {
    std::vector<std::vector<std::string>> others;
    for (size_t j = 0; j < generations.size(); ++j)
      if (j != i) others.push_back({generations[j]});
    sum += corpus_bleu({generations[i]}, others).score;
  }
  return sum / static_cast<double>(generations.size());
}

}  // namespace zoo::eval
