#include "cli/generate.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/runtime.h"
#include "eval/text_metrics.h"
#include "export/archive_decoder.h"
#include "generation/attention_map.h"
#include "generation/seq2seq_decoder.h"
#include "generation/text.h"
#include "trainers/loop.h"

namespace zoo::cli {
namespace {

std::vector<std::string> read_prompts(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError("zoo generate: --prompt-file " + path + ": cannot read it (check the path)");
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) prompts.push_back(line);
  if (prompts.empty()) throw UserError("zoo generate: --prompt-file " + path + " has no non-empty line; give one prompt per line");
  return prompts;
}

// Prints the text of one sequence as its tokens arrive. Decoding the whole sequence each time
// and printing what is new keeps multi-byte characters split across pieces intact.
class TextStream {
 public:
  explicit TextStream(const tokenizers::Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  void add(int64_t token) {
    ids_.push_back(token);
    std::string text = tokenizer_.decode(ids_);
    if (text.size() > printed_ && text.compare(0, printed_, printed_text_) == 0) {
      fmt::print("{}", text.substr(printed_));
      std::fflush(stdout);
      printed_text_ = text;
      printed_ = text.size();
    }
  }

 private:
  const tokenizers::Tokenizer& tokenizer_;
  std::vector<int64_t> ids_;
  std::string printed_text_;
  size_t printed_ = 0;
};

// The attention `decoder` pays to each piece of `prompt` while writing `output`: the output fed
// back one token at a time (teacher forcing), so the map is the same whichever search chose it.
generation::AttentionMap attention_of(generation::Seq2SeqDecoder& decoder, const tokenizers::Tokenizer& tokenizer,
                                      const std::string& prompt, const generation::Tokens& output) {
  generation::AttentionMap map;
  const auto source = tokenizer.encode(prompt);
  for (int64_t id : source) map.source.push_back(tokenizer.id_to_piece(id));
  for (int64_t id : output) map.output.push_back(tokenizer.id_to_piece(id));
  if (output.empty()) return map;
  decoder.record_attention(true);
  auto ids = torch::tensor(source, torch::kLong).unsqueeze(0);
  decoder.start(ids, torch::ones_like(ids));
  for (size_t t = 0; t + 1 < output.size(); ++t) decoder.step(torch::tensor({output[t]}, torch::kLong));
  auto weights = decoder.attention()[0].to(torch::kDouble).cpu().contiguous();  // (steps, S)
  for (int64_t t = 0; t < weights.size(0); ++t) {
    auto row = weights[t];
    map.weights.emplace_back(row.data_ptr<double>(), row.data_ptr<double>() + row.numel());
  }
  return map;
}

double perplexity(const generation::Sequence& sequence) {
  return sequence.ids.empty() ? 1.0 : std::exp(-sequence.log_prob / static_cast<double>(sequence.ids.size()));
}

}  // namespace

CLI::App* GenerateCommand::add_to(CLI::App& app) {
  auto* command = app.add_subcommand("generate", "continue a prompt with a trained run");
  command->add_option("run_dir", run_dir, "run directory (runs/NAME)");
  command->add_option("--torchscript", torchscript, "generate from an archive `zoo export` wrote, alone");
  command->add_option("--checkpoint", checkpoint,
                      "latest, best, step_N, or base: the weights the run started from (trainer.init_from)")
      ->capture_default_str();
  command->add_option("--base", base, "the base run a LoRA run's adapters go on, when it is not where it was");
  command->add_option("--prompt", prompt, "text to continue (default: the recipe's generation.prompt)");
  command->add_option("--prompt-file", prompt_file, "continue every non-empty line of FILE, as one batch");
  command->add_option("--preset", preset, "precise, balanced or creative: decoding defaults the other flags override")
      ->check(CLI::IsMember({"precise", "balanced", "creative"}));
  command->add_option("--strategy", strategy, "greedy, sample or beam")->check(CLI::IsMember({"greedy", "sample", "beam"}));
  command->add_option("--max-new-tokens", max_new_tokens, "tokens to generate")->check(CLI::NonNegativeNumber);
  command->add_option("--temperature", temperature, "softmax temperature; 0 = greedy")->check(CLI::NonNegativeNumber);
  command->add_option("--top-k", top_k, "sample among the k most likely tokens; 0 = all")->check(CLI::NonNegativeNumber);
  command->add_option("--top-p", top_p, "nucleus sampling mass; 1 = off")->check(CLI::Range(0.0, 1.0));
  command->add_option("--min-p", min_p, "drop tokens below min-p times the best one's probability")->check(CLI::Range(0.0, 1.0));
  command->add_option("--typical-p", typical_p, "locally typical sampling mass; 1 = off")->check(CLI::Range(0.0, 1.0));
  command->add_option("--repetition-penalty", repetition_penalty, "CTRL repetition penalty; 1 = off")->check(CLI::PositiveNumber);
  command->add_option("--no-repeat-ngram", no_repeat_ngram, "never repeat an n-gram of this size")->check(CLI::NonNegativeNumber);
  command->add_option("--beam", beams, "beam width (implies --strategy beam)")->check(CLI::PositiveNumber);
  command->add_option("--length-penalty", length_penalty, "GNMT alpha for beam scores")->check(CLI::NonNegativeNumber);
  command->add_option("--num-return", num_return, "sequences per prompt")->check(CLI::PositiveNumber);
  command->add_option("--stop", stop, "stop string (repeatable)");
  command->add_option("--seed", seed, "sampling seed (default: the recipe's seed)");
  command->add_option("--device", device, "auto, cpu, cuda or cuda:N (default: the recipe's)");
  command->add_option("--attention-map", attention_map,
                      "seq2seq: draw the attention over the prompt's pieces while writing the output as a PNG heat "
                      "map (with --json, the matrix goes into the JSON too)");
  command->add_flag("--stream", stream, "print tokens as they are generated");
  command->add_flag("--json", json, "one JSON object per prompt: sequences with log-probabilities, scores and "
                                    "distinct-n; self-BLEU across them");
  return command;
}

void GenerateCommand::run() const {
  if (prompt && prompt_file) throw UserError("zoo generate: give --prompt or --prompt-file, not both");
  if (stream && json) throw UserError("zoo generate: --stream prints text as it comes and --json prints it at the end; choose one");
  if (run_dir.empty() == !torchscript)
    throw UserError("zoo generate: give a run directory or --torchscript FILE.pt (one of them)");
  if (attention_map && (torchscript || prompt_file))
    throw UserError("zoo generate: --attention-map draws one prompt of a run directory; drop --torchscript and --prompt-file");
  if (json) log_to_stderr();
  configure_threads(0);
  // From a run directory (the cached decoder) or from an exported archive alone.
  std::optional<trainers::LoadedRun> loaded;
  std::optional<exporting::LoadedArchive> archive;
  std::unique_ptr<generation::Decoder> decoder;
  std::shared_ptr<tokenizers::Tokenizer> tokenizer;
  GenerationOptions options;
  int64_t recipe_seed = 0;
  if (torchscript) {
    archive = exporting::load_exported(*torchscript);
    if (!archive->module.find_method("forward") && archive->module.find_method("decode_step"))
      throw UserError(*torchscript + ": a seq2seq archive (encode, decode_step); zoo generate --torchscript runs "
                      "language models, so generate from the run directory (zoo generate RUN_DIR), or decode from "
                      "the archive as tests/python/seq2seq_greedy_from_archive.py does");
    decoder = exporting::archive_decoder(archive->module, archive->context_length);
    tokenizer = archive->tokenizer;
    options = archive->generation;
    recipe_seed = archive->seed;
  } else {
    loaded = trainers::load_run(run_dir, checkpoint, device, base);
    decoder = loaded->objective->decoder();
    if (!decoder)
      throw UserError(fmt::format("zoo generate: {} trains a '{}' model, which does not generate text", run_dir,
                                  loaded->recipe.trainer.type));
    tokenizer = loaded->tokenizer;
    options = loaded->recipe.generation;
    recipe_seed = loaded->recipe.seed;
  }

  if (preset) options.apply_preset(*preset);
  if (beams) {
    options.num_beams = *beams;
    if (!strategy) options.strategy = "beam";
  }
  if (strategy) options.strategy = *strategy;
  if (max_new_tokens) options.max_new_tokens = *max_new_tokens;
  if (temperature) options.temperature = *temperature;
  if (top_k) options.top_k = *top_k;
  if (top_p) options.top_p = *top_p;
  if (min_p) options.min_p = *min_p;
  if (typical_p) options.typical_p = *typical_p;
  if (repetition_penalty) options.repetition_penalty = *repetition_penalty;
  if (no_repeat_ngram) options.no_repeat_ngram_size = *no_repeat_ngram;
  if (length_penalty) options.length_penalty = *length_penalty;
  if (num_return) options.num_return_sequences = *num_return;
  if (!stop.empty()) options.stop = stop;
  if (auto [key, what] = options.contradiction(); !key.empty())
    throw UserError(fmt::format("zoo generate: {} (from the flags and the recipe's generation.{})", what, key));

  std::vector<std::string> prompts = prompt_file ? read_prompts(*prompt_file)
                                                 : std::vector<std::string>{prompt.value_or(options.prompt)};
  if (stream && (options.strategy == "beam" || options.num_return_sequences > 1 || prompts.size() > 1))
    throw UserError("zoo generate: --stream prints one sequence as it is generated; it cannot be combined with "
                    "beam search, --num-return above 1 or --prompt-file");
  for (const auto& text : prompts)
    if (tokenizer->encode(text).empty())
      throw UserError("zoo generate: the prompt '" + text + "' is empty after tokenization; give at least one character");

  const auto generation_seed = static_cast<uint64_t>(seed.value_or(recipe_seed));
  const bool continues_prompt = decoder->continues_prompt();
  TextStream streamed(*tokenizer);
  if (stream && continues_prompt) fmt::print("{}", prompts[0]);
  auto on_token = [&](size_t, size_t, int64_t token) { streamed.add(token); };
  auto results = generation::generate_text(*decoder, *tokenizer, prompts, options, generation_seed,
                                           stream ? on_token : std::function<void(size_t, size_t, int64_t)>{});
  if (stream) {
    fmt::print("\n");
    return;
  }
  std::optional<generation::AttentionMap> attention;
  if (attention_map) {
    auto* seq2seq = dynamic_cast<generation::Seq2SeqDecoder*>(decoder.get());
    if (!seq2seq)
      throw UserError(fmt::format("zoo generate --attention-map: {} trains a '{}' model, which has no attention over "
                                  "a source; attention maps are for seq2seq runs",
                                  run_dir, loaded->recipe.model.type));
    attention = attention_of(*seq2seq, *tokenizer, prompts[0], results[0][0].ids);
    generation::write_attention_png(*attention, fmt::format("attention: {} -> {}", prompts[0], results[0][0].text),
                                    *attention_map);
    if (!json) spdlog::info("attention map of the first sequence: {}", *attention_map);
  }
  for (size_t p = 0; p < prompts.size(); ++p) {
    if (json) {
      nlohmann::json out{{"prompt", prompts[p]}, {"strategy", options.strategy}, {"seed", generation_seed}};
      std::vector<std::string> texts;
      for (const auto& sequence : results[p]) {
        // Distinct n-grams within the sequence: how much it repeats itself.
        const std::vector<eval::Words> words{eval::split_words(sequence.text)};
        out["sequences"].push_back({{"text", sequence.text},
                                    {"ids", sequence.ids},
                                    {"finish_reason", sequence.finish_reason},
                                    {"log_prob", sequence.log_prob},
                                    {"perplexity", perplexity(sequence)},
                                    {"score", sequence.score},
                                    {"distinct_1", eval::distinct_n(words, 1)},
                                    {"distinct_2", eval::distinct_n(words, 2)}});
        texts.push_back(sequence.text);
      }
      // How much the sequences repeat each other.
      if (texts.size() > 1) out["self_bleu"] = eval::self_bleu(texts);
      if (attention && p == 0) out["attention"] = generation::to_json(*attention);
      fmt::print("{}\n", out.dump());
      continue;
    }
    for (size_t k = 0; k < results[p].size(); ++k) {
      const auto& sequence = results[p][k];
      if (results[p].size() > 1 || prompts.size() > 1)
        fmt::print("--- prompt {}, sequence {} | score {:.3f} | perplexity {:.2f} | {}\n", p + 1, k + 1, sequence.score,
                   perplexity(sequence), sequence.finish_reason);
      fmt::print("{}{}\n", continues_prompt ? prompts[p] : "", sequence.text);
    }
  }
}

}  // namespace zoo::cli
