#include "generation/generate.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace zoo::generation {
namespace {

constexpr double kNegativeInfinity = -std::numeric_limits<double>::infinity();

void check_options(const Request& request) {
  if (auto [key, what] = request.options.contradiction(); !key.empty())
    throw UserError("generation." + key + ": " + what);
  if (!request.options.stop.empty() && !request.decode)
    throw std::invalid_argument("generate: stop strings need a decode function");
  for (const auto& prompt : request.prompts)
    if (prompt.empty()) throw UserError("generate: a prompt is empty after tokenization; give at least one token");
}

// Rows of different lengths as one batch, padded on the left so every row ends at the last
// column: ids (B, T) and mask (B, T), 1 = real token.
std::pair<torch::Tensor, torch::Tensor> left_pad(const std::vector<const Tokens*>& rows) {
  size_t longest = 0;
  for (const Tokens* row : rows) longest = std::max(longest, row->size());
  const auto batch = static_cast<int64_t>(rows.size());
  auto ids = torch::zeros({batch, static_cast<int64_t>(longest)}, torch::kInt64);
  auto mask = torch::zeros({batch, static_cast<int64_t>(longest)}, torch::kBool);
  for (int64_t b = 0; b < batch; ++b) {
    const Tokens& row = *rows[static_cast<size_t>(b)];
    const auto offset = static_cast<int64_t>(longest - row.size());
    ids[b].narrow(0, offset, static_cast<int64_t>(row.size())).copy_(torch::tensor(row, torch::kInt64));
    mask[b].narrow(0, offset, static_cast<int64_t>(row.size())).fill_(true);
  }
  return {ids, mask};
}

// Starts the decoder on the last `keep` tokens of each history: the prompts at first, and half
// a context whenever the context fills (a sliding window: older tokens are forgotten).
torch::Tensor restart(Decoder& decoder, const std::vector<const Tokens*>& histories, size_t keep) {
  std::vector<Tokens> windows;
  std::vector<const Tokens*> rows;
  windows.reserve(histories.size());
  for (const Tokens* history : histories) {
    const size_t from = history->size() > keep ? history->size() - keep : 0;
    windows.emplace_back(history->begin() + static_cast<std::ptrdiff_t>(from), history->end());
  }
  for (const auto& window : windows) rows.push_back(&window);
  auto [ids, mask] = left_pad(rows);
  return decoder.start(ids, mask);
}

size_t half_context(const Decoder& decoder) { return static_cast<size_t>(std::max<int64_t>(1, decoder.context_length() / 2)); }

bool is_stop_token(const Request& request, int64_t token) {
  return std::find(request.stop_tokens.begin(), request.stop_tokens.end(), token) != request.stop_tokens.end();
}

// Fills sequence.text; returns true, cutting the text, when it contains a stop string.
bool decode_and_find_stop(const Request& request, Sequence& sequence) {
  if (request.options.stop.empty()) return false;  // text is decoded once, at the end
  sequence.text = request.decode(sequence.ids);
  size_t cut = std::string::npos;
  for (const auto& stop : request.options.stop)
    if (!stop.empty()) cut = std::min(cut, sequence.text.find(stop));
  if (cut == std::string::npos) return false;
  sequence.text.resize(cut);
  return true;
}

torch::Tensor host_logits(const torch::Tensor& logits) { return logits.to(torch::kCPU, torch::kFloat32); }

// ---- greedy and sampling: every prompt and draw in one batch --------------------------------

struct Row {
  size_t prompt = 0, draw = 0;
  Tokens history;  // prompt + generated, what penalties and restarts look at
  Sequence sequence;
};

std::vector<std::vector<Sequence>> sample(Decoder& decoder, const Request& request) {
  const GenerationOptions& options = request.options;
  auto generator = at::detail::createCPUGenerator(request.seed);
  const auto draws = static_cast<size_t>(options.num_return_sequences);

  std::vector<Row> rows;
  for (size_t p = 0; p < request.prompts.size(); ++p)
    for (size_t d = 0; d < draws; ++d) rows.push_back(Row{p, d, request.prompts[p], {}});
  std::vector<size_t> active(rows.size());  // rows still generating, in the decoder's batch order
  for (size_t i = 0; i < rows.size(); ++i) active[i] = i;
  auto histories = [&] {
    std::vector<const Tokens*> list;
    for (size_t i : active) list.push_back(&rows[i].history);
    return list;
  };

  torch::Tensor logits = restart(decoder, histories(), static_cast<size_t>(decoder.prompt_limit()));
  for (int64_t step = 0; step < options.max_new_tokens && !active.empty(); ++step) {
    auto host = host_logits(logits);  // (B, V)
    auto model_log_probs = host.log_softmax(1);
    std::vector<Tokens> active_histories;
    if (uses_history(options))
      for (size_t i : active) active_histories.push_back(rows[i].history);
    auto next = choose_tokens(apply_penalties(host, active_histories, options), options, generator).contiguous();  // (B)
    // Read on the host through raw accessors: per-element tensor indexing costs more than the
    // rest of a small model's step.
    const int64_t* next_tokens = next.data_ptr<int64_t>();
    auto log_prob_of = model_log_probs.accessor<float, 2>();

    std::vector<size_t> still_active;
    std::vector<int64_t> kept_positions;
    for (size_t b = 0; b < active.size(); ++b) {
      Row& row = rows[active[b]];
      const int64_t token = next_tokens[b];
      if (is_stop_token(request, token)) {
        row.sequence.finish_reason = "stop_token";
        continue;
      }
      row.history.push_back(token);
      row.sequence.ids.push_back(token);
      row.sequence.log_prob += log_prob_of[static_cast<int64_t>(b)][token];
      if (request.on_token) request.on_token(row.prompt, row.draw, token);
      if (decode_and_find_stop(request, row.sequence)) {
        row.sequence.finish_reason = "stop_string";
        continue;
      }
      still_active.push_back(active[b]);
      kept_positions.push_back(static_cast<int64_t>(b));
    }
    if (step + 1 == options.max_new_tokens || still_active.empty()) break;
    if (still_active.size() < active.size()) {
      auto index = torch::tensor(kept_positions, torch::kInt64);
      decoder.reorder(index);
      next = next.index_select(0, index);
    }
    active = std::move(still_active);
    if (decoder.room() <= 0 && !decoder.continues_prompt()) break;
    logits = decoder.room() > 0 ? decoder.step(next) : restart(decoder, histories(), half_context(decoder));
  }

  std::vector<std::vector<Sequence>> results(request.prompts.size());
  for (Row& row : rows) {
    if (row.sequence.finish_reason.empty()) row.sequence.finish_reason = "length";
    row.sequence.score = row.sequence.log_prob;
    results[row.prompt].push_back(std::move(row.sequence));
  }
  return results;
}

// ---- beam search: one prompt at a time, its beams as the batch ------------------------------

struct Beam {
  Tokens history;
  Sequence sequence;
  double sum = 0;  // the log-probabilities (after penalties) that rank beams
};

// Up to `width` finished hypotheses, best first.
class Hypotheses {
 public:
  Hypotheses(size_t width, double alpha) : width_(width), alpha_(alpha) {}

  void add(Sequence sequence, double sum) {
    sequence.score = sum / length_penalty(static_cast<int64_t>(sequence.ids.size()), alpha_);
    auto at = std::find_if(list_.begin(), list_.end(), [&](const Sequence& s) { return s.score < sequence.score; });
    list_.insert(at, std::move(sequence));
    if (list_.size() > width_) list_.pop_back();
  }
  bool full() const { return list_.size() >= width_; }
  double worst() const { return list_.empty() ? kNegativeInfinity : list_.back().score; }
  std::vector<Sequence>& list() { return list_; }

 private:
  size_t width_;
  double alpha_;
  std::vector<Sequence> list_;
};

std::vector<Sequence> beam_search(Decoder& decoder, const Request& request, const Tokens& prompt) {
  const GenerationOptions& options = request.options;
  const auto width = static_cast<size_t>(options.num_beams);
  Hypotheses finished(width, options.length_penalty);

  // All beams start as the prompt; only the first may extend at the first step, so the first
  // step's candidates are distinct tokens rather than `width` copies of each.
  std::vector<Beam> beams(width, Beam{prompt, {}, kNegativeInfinity});
  beams[0].sum = 0;
  std::vector<const Tokens*> first{&prompt};
  auto logits = restart(decoder, first, static_cast<size_t>(decoder.prompt_limit()));
  decoder.reorder(torch::zeros({static_cast<int64_t>(width)}, torch::kInt64));
  logits = logits.expand({static_cast<int64_t>(width), logits.size(1)});

  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    auto host = host_logits(logits);  // (W, V)
    const int64_t vocab = host.size(1);
    auto model_log_probs = host.log_softmax(1);
    std::vector<Tokens> histories;
    std::vector<double> sums;
    for (const Beam& beam : beams) {
      if (uses_history(options)) histories.push_back(beam.history);
      sums.push_back(beam.sum);
    }
    // Sums in double, so that long beams rank as exactly as their scores are reported.
    auto scores = apply_penalties(host, histories, options).log_softmax(1).to(torch::kFloat64) +
                  torch::tensor(sums, torch::kFloat64).unsqueeze(1);  // (W, V)
    const int64_t candidates = std::min<int64_t>(2 * static_cast<int64_t>(beams.size()), scores.numel());
    auto [top_scores, top_index] = scores.view({-1}).topk(candidates);
    auto top_score = top_scores.accessor<double, 1>();
    auto top_flat_index = top_index.accessor<int64_t, 1>();
    auto log_prob_of = model_log_probs.accessor<float, 2>();

    std::vector<Beam> next;
    std::vector<int64_t> parents, tokens;
    for (int64_t rank = 0; rank < candidates && next.size() < width; ++rank) {
      const double sum = top_score[rank];
      if (sum == kNegativeInfinity) break;
      const int64_t parent = top_flat_index[rank] / vocab;
      const int64_t token = top_flat_index[rank] % vocab;
      const Beam& from = beams[static_cast<size_t>(parent)];
      // A stop among the best `width` candidates finishes a hypothesis; lower-ranked ones would
      // not have survived as beams either.
      const bool ranks = rank < static_cast<int64_t>(width);
      if (is_stop_token(request, token)) {
        if (ranks) {
          Sequence done = from.sequence;
          done.finish_reason = "stop_token";
          finished.add(std::move(done), sum);
        }
        continue;
      }
      Beam beam{from.history, from.sequence, sum};
      beam.history.push_back(token);
      beam.sequence.ids.push_back(token);
      beam.sequence.log_prob += log_prob_of[parent][token];
      if (decode_and_find_stop(request, beam.sequence)) {
        if (ranks) {
          beam.sequence.finish_reason = "stop_string";
          finished.add(std::move(beam.sequence), sum);
        }
        continue;
      }
      next.push_back(std::move(beam));
      parents.push_back(parent);
      tokens.push_back(token);
    }
    beams = std::move(next);
    if (beams.empty()) break;
    // Done when no running beam can beat the worst kept hypothesis. Later tokens only lower a
    // sum, and with alpha >= 0 its best normalised score is at the longest length.
    const double best_possible = beams.front().sum / length_penalty(options.max_new_tokens, options.length_penalty);
    if (finished.full() && (options.early_stopping || finished.worst() >= best_possible)) {
      beams.clear();
      break;
    }
    if (step + 1 == options.max_new_tokens) break;
    decoder.reorder(torch::tensor(parents, torch::kInt64));
    if (decoder.room() > 0) {
      logits = decoder.step(torch::tensor(tokens, torch::kInt64));
    } else if (!decoder.continues_prompt()) {
      break;
    } else {
      std::vector<const Tokens*> rows;
      for (const Beam& beam : beams) rows.push_back(&beam.history);
      logits = restart(decoder, rows, half_context(decoder));
    }
  }
  for (Beam& beam : beams) {
    beam.sequence.finish_reason = "length";
    finished.add(std::move(beam.sequence), beam.sum);
  }
  auto& best = finished.list();
  best.resize(std::min(best.size(), static_cast<size_t>(options.num_return_sequences)));
  return best;
}

}  // namespace

double length_penalty(int64_t length, double alpha) {
  return std::pow((5.0 + static_cast<double>(length)) / 6.0, alpha);
}

std::vector<std::vector<Sequence>> generate(Decoder& decoder, const Request& request) {
  check_options(request);
  c10::InferenceMode inference;
  std::vector<std::vector<Sequence>> results;
  if (request.options.strategy == "beam") {
    for (const Tokens& prompt : request.prompts) results.push_back(beam_search(decoder, request, prompt));
  } else {
    results = sample(decoder, request);
  }
  for (auto& sequences : results)
    for (Sequence& sequence : sequences)
      if (request.decode && sequence.text.empty() && sequence.finish_reason != "stop_string")
        sequence.text = request.decode(sequence.ids);
  return results;
}

}  // namespace zoo::generation
