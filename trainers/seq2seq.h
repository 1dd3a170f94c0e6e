// How the seq2seq trainer scores decoded outputs against their references, exposed for tests.
#pragma once

#include <vector>

#include "eval/text_metrics.h"

namespace zoo::trainers {

struct OutputScores {
  double exact_match = 0;  // share of outputs equal to one of their references
  double wer = 0;          // 1 - exact_match: an output (a G2P word) is right or wrong whole
  double per = 0;          // summed edit distances to the closest reference / those references' tokens
  double bleu = 0;         // corpus BLEU (0-100) against all references
};

// hypotheses[i] is the output for source i, references[i] its references (at least one each),
// all as whitespace-separated tokens. The closest reference is the one at the fewest edits (the
// first of those on a tie).
OutputScores score_outputs(const std::vector<eval::Words>& hypotheses,
                           const std::vector<std::vector<eval::Words>>& references);

}  // namespace zoo::trainers
