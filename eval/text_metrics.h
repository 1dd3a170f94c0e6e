// Metrics of generated and translated text: corpus BLEU and chrF computed as sacreBLEU 2.x
// computes them, exact match, edit-distance error rates (WER, and PER on phoneme sequences),
// and the diversity measures distinct-n and self-BLEU.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace zoo::eval {

using Words = std::vector<std::string>;

// Words split on whitespace as Python's str.split() splits them (sacreBLEU's splitting): ASCII
// whitespace, U+001C-U+001F, U+0085, no-break space and the other Unicode space separators.
Words split_words(const std::string& text);

// sacreBLEU's default tokenizer: mteval-v13a's, punctuation split off, numbers kept whole.
std::string tokenize_13a(const std::string& line);

struct BleuScore {
  double score = 0;                      // 0-100
  std::array<double, 4> precisions{};    // 0-100, smoothed as scored
  std::array<int64_t, 4> correct{}, total{};
  double brevity_penalty = 0;
  double ratio = 0;                      // hyp_length / ref_length; 0 without reference words
  int64_t hyp_length = 0, ref_length = 0;
};

// BLEU from its sufficient statistics, with mteval's "exp" smoothing of zero counts.
BleuScore bleu_from_counts(const std::array<int64_t, 4>& correct, const std::array<int64_t, 4>& total,
                           int64_t hyp_length, int64_t ref_length);

// Corpus BLEU as sacrebleu.corpus_bleu(hypotheses, references) with its defaults: references[k][i]
// is the k-th reference of hypothesis i; each hypothesis is compared with the reference of
// closest length (the shorter on a tie) and its n-grams are clipped by the highest count in any
// one reference. `tokenize` is "13a" (the default) or "none" (split on whitespace only).
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::vector<std::string>>& references, const std::string& tokenize = "13a");

// The same over sequences already tokenized (words, or token ids written as strings).
BleuScore corpus_bleu_tokens(const std::vector<Words>& hypotheses, const std::vector<std::vector<Words>>& references);

struct ChrfOptions {
  int char_order = 6;
  double beta = 2.0;            // recall weighs beta times as much as precision
  bool whitespace = false;      // keep whitespace inside character n-grams
  bool eps_smoothing = false;   // chrF++.py's smoothing instead of sacreBLEU 2's effective order
};

// Corpus chrF (0-100) as sacrebleu.corpus_chrf (word order 0): character n-gram statistics
// summed over the corpus, each segment taking the reference that gives it the best F-score.
double corpus_chrf(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references,
                   const ChrfOptions& options = {});

// Fraction of hypotheses equal to their reference after trimming surrounding whitespace; 0 for
// no hypotheses.
double exact_match(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references);

// Levenshtein distance over tokens: insertions, deletions and substitutions each cost one.
int64_t edit_distance(const Words& hypothesis, const Words& reference);

struct ErrorRate {
  double rate = 0;  // edits / reference_tokens; 0 without reference tokens
  int64_t edits = 0, reference_tokens = 0;
};

// Corpus error rate: summed edit distances over summed reference lengths (WER on words, PER on
// phonemes), not a mean of per-sentence rates, so long references weigh more.
ErrorRate error_rate(const std::vector<Words>& hypotheses, const std::vector<Words>& references);
ErrorRate word_error_rate(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references);

// Distinct n-grams over all n-grams in a set of generations (Li et al. 2016); 0 when none.
double distinct_n(const std::vector<Words>& generations, int n);

// Self-BLEU (Zhu et al. 2018, Texygen): the mean over generations i of the corpus BLEU (0-100,
// 13a, as corpus_bleu) of the one-sentence corpus {i} whose references are all the other
// generations. High when generations repeat each other. Needs two or more.
double self_bleu(const std::vector<std::string>& generations);

}  // namespace zoo::eval
