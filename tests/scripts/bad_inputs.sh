#!/usr/bin/env bash
# Malformed inputs of every kind zoo reads (recipes and overrides, data files, token files,
# saved tokenizers, checkpoints, exported archives), made here at run time. Each must give exit
# code 2 and exactly one line on stderr that names the file (with line:col where zoo has one) and
# says what to do; never a backtrace, and nothing written: the work tree is byte for byte the
# same after the command (so a failed `zoo train` leaves no run directory, and a failed
# `zoo train --resume` leaves its run as it was).
# The recipe mistakes of tests/data/bad_recipes (BadRecipes.*) are not repeated here.
# Every case runs; those that misbehave are listed at the end with their command, exit code and
# stderr, and the script exits 1.
# Usage: bad_inputs.sh ZOO_BINARY SOURCE_DIR
set -euo pipefail
zoo=$(realpath "$1")
python=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export ZOO_CACHE_DIR=${ZOO_CACHE_DIR:-$work/cache}
# zoo re-executes itself to set this; set here, each case starts zoo once instead of twice.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

# ---------------------------------------------------------------------------------------------
# The harness.
#   bad NAME EXPECTED COMMAND...
# runs COMMAND and checks exit code 2, one non-empty stderr line containing EXPECTED (fixed
# strings; several, in order, separated by ' ** '), no crash markers, and an unchanged work tree.
cases=0
failed=()
report=""

snapshot() {
  # Every directory and every file's checksum, the cache aside.
  find . -path ./cache -prune -o -path ./log -prune -o -print | LC_ALL=C sort
  find . -path ./cache -prune -o -path ./log -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum
}

bad() {
  local name=$1 expected=$2
  shift 2
  cases=$((cases + 1))
  mkdir -p log
  local out=log/$name.out err=log/$name.err rc=0
  local before after
  before=$(snapshot)
  timeout 120 "$@" >"$out" 2>"$err" </dev/null || rc=$?
  after=$(snapshot)
  local message problems=()
  message=$(cat "$err")
  [[ $rc -eq 2 ]] || problems+=("exit code $rc, expected 2")
  if [[ -z $message ]]; then
    problems+=("stderr is empty")
  elif [[ $(wc -l <"$err") -ne 1 || $(wc -c <"$err") -ne $(printf '%s\n' "$message" | wc -c) ]]; then
    problems+=("stderr is $(wc -l <"$err") lines, expected exactly one")
  fi
  local marker
  for marker in "terminate called" "Exception raised from" "frame #" "Aborted" "Segmentation" "internal error"; do
    if grep -qF -- "$marker" "$err"; then problems+=("stderr holds '$marker'"); fi
  done
  local rest=$expected piece
  while [[ -n $rest ]]; do
    piece=${rest%% \*\* *}
    if [[ $rest == *" ** "* ]]; then rest=${rest#* \*\* }; else rest=""; fi
    if [[ $message != *"$piece"* ]]; then
      problems+=("stderr lacks '$piece'")
    else
      message=${message#*"$piece"}  # the next piece must come after this one
    fi
  done
  if [[ $before != "$after" ]]; then
    local changed
    changed=$(diff <(echo "$before") <(echo "$after") | sed -n 's#^[<>] .* \./#./#p; s#^[<>] \./#./#p' | LC_ALL=C sort -u | head -6 | tr '\n' ' ' || true)
    problems+=("the command wrote ${changed% }")
  fi
  if [[ ${#problems[@]} -eq 0 ]]; then
    echo "ok    $name${ZOO_BAD_VERBOSE:+: $(cat "$err")}"
    return 0
  fi
  echo "FAIL  $name"
  failed+=("$name")
  local joined
  joined=$(printf '%s; ' "${problems[@]}")
  report+="FAIL $name: ${joined%; }"$'\n'
  report+="  command: $(printf '%q ' "$@" | sed "s#$zoo#zoo#g")"$'\n'
  report+="  exit code: $rc; stderr (first 5 lines):"$'\n'
  report+="$(head -5 "$err" | sed 's/^/    | /')"$'\n'
  report+="  expected: $expected"$'\n'
}

# ---------------------------------------------------------------------------------------------
# Inputs that work: a corpus, classification and tagging files, a char GPT trained 4 steps (A)
# and the same GPT with another width (B), a sentencepiece tokenizer, a token file, an export.
$python - <<'PY'
import json, random
random.seed(5)
words = "the cat sat on a mat and dog ran to house in rain while birds sang".split()
for name, lines in (("corpus.txt", 300), ("valid.txt", 60)):
    with open(name, "w") as f:
        for _ in range(lines):
            f.write(" ".join(random.choice(words) for _ in range(9)) + ".\n")
adjectives = "good bad fine awful nice poor great terrible".split()
with open("cls.tsv", "w") as tsv, open("cls.jsonl", "w") as jsonl, \
     open("tag.conll", "w") as conll, open("tag.jsonl", "w") as tag_jsonl:
    for _ in range(60):
        label = random.choice(["pos", "neg"])
        tokens = [random.choice(adjectives) for _ in range(5)]
        tags = ["A" if t in adjectives[::2] else "B" for t in tokens]
        tsv.write(f"{label}\t{' '.join(tokens)}\n")
        jsonl.write(json.dumps({"text": " ".join(tokens), "label": label}) + "\n")
        conll.write("".join(f"{t}\t{g}\n" for t, g in zip(tokens, tags)) + "\n")
        tag_jsonl.write(json.dumps({"tokens": tokens, "tags": tags}) + "\n")
PY

cat > gpt.yaml <<'YAML'
name: gpt
seed: 1
threads: 1
tokenizer: {type: char}
data: {type: text, train: corpus.txt, valid: valid.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer: {type: lm, batch_size: 4, max_steps: 4, eval_every: 4, eval_batches: 1, checkpoint_every: 4}
generation: {max_new_tokens: 0}
YAML
cat > cls.yaml <<'YAML'
name: cls
seed: 1
threads: 1
tokenizer: {type: char}
data: {type: classification, train: cls.tsv, max_length: 32}
model: {type: bilstm, embedding_dim: 16, hidden_size: 16, num_layers: 1}
trainer: {type: classify, batch_size: 4, max_steps: 2, eval_every: 2, eval_batches: 1, checkpoint_every: 2}
YAML
cat > tag.yaml <<'YAML'
name: tag
seed: 1
threads: 1
tokenizer: {type: char}
data: {type: tagging, train: tag.conll, max_length: 40}
model: {type: bilstm, embedding_dim: 16, hidden_size: 16, num_layers: 1}
trainer: {type: tag, batch_size: 4, max_steps: 2, eval_every: 2, eval_batches: 1, checkpoint_every: 2}
YAML

setup() { "$@" >>setup.log 2>&1 || { echo "setup failed: $*"; cat setup.log; exit 1; }; }
setup "$zoo" train gpt.yaml trainer.output_dir=runs/A
setup "$zoo" train gpt.yaml trainer.output_dir=runs/B model.d_model=48
setup "$zoo" export runs/A
setup "$zoo" tokenizer train --input corpus.txt --type bpe --vocab-size 40 --out spm
mkdir tk
cp corpus.txt tk/corpus.txt
sed 's#train: corpus.txt, valid: valid.txt#train: tk/corpus.txt#' gpt.yaml > tk.yaml
setup "$zoo" data tokenize tk.yaml
token_file=$(ls tk/corpus.txt.*.tokens)
cp "$token_file" good.tokens
rm -f setup.log

# ---------------------------------------------------------------------------------------------
# Recipes and overrides.
cat > list_given_map.yaml <<'YAML'
name: list-given-map
tokenizer: {type: char, special_tokens: {pad: true}}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer: {type: lm, max_steps: 4}
YAML
bad recipe_list_given_a_map "list_given_map.yaml:2:41: tokenizer.special_tokens: expected a list of strings, got a mapping" \
  "$zoo" train list_given_map.yaml

cat > bool_not_bool.yaml <<'YAML'
name: bool-not-bool
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16, bias: maybe}
trainer: {type: lm, max_steps: 4}
YAML
bad recipe_bool_given_a_word "bool_not_bool.yaml:4:78: model.bias: expected true or false, got 'maybe'" \
  "$zoo" train bool_not_bool.yaml

cat > float_not_float.yaml <<'YAML'
name: float-not-float
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer:
  type: lm
  optimizer: {type: adamw, lr: 1e-3x}
YAML
bad recipe_float_given_a_word "float_not_float.yaml:7:32: trainer.optimizer.lr: expected a number, got '1e-3x'" \
  "$zoo" train float_not_float.yaml

cat > map_as_scalar.yaml <<'YAML'
name: map-as-scalar
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer:
  type: lm
  scheduler: cosine
YAML
bad recipe_map_given_a_scalar "map_as_scalar.yaml:7:14: trainer.scheduler: expected a mapping of keys, got 'cosine'" \
  "$zoo" train map_as_scalar.yaml

cat > list_for_map.yaml <<'YAML'
name: list-for-map
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer:
  type: lm
  optimizer:
    - type: adamw
    - lr: 0.001
YAML
bad recipe_list_where_a_map_belongs "list_for_map.yaml:8:5: trainer.optimizer: expected a mapping of keys, got a list" \
  "$zoo" train list_for_map.yaml

bad override_bad_yaml_value "<command line>:1:19: trainer.max_steps: cannot parse value '[1': end of sequence flow not found" \
  "$zoo" train gpt.yaml 'trainer.max_steps=[1'
bad override_bad_yaml_map "<command line>:1:19: trainer.optimizer: cannot parse value '{type: adamw': end of map flow not found" \
  "$zoo" validate gpt.yaml 'trainer.optimizer={type: adamw'
bad override_without_equals "<command line>:1:1: 'trainer.max_steps': an override is key.path=value (e.g. trainer.max_steps=100)" \
  "$zoo" train gpt.yaml trainer.max_steps
bad override_unknown_section "<command line>:1:1: nosuch: unknown key (known keys: name, seed, device, threads, tokenizer, data, model, trainer" \
  "$zoo" train gpt.yaml nosuch.key=1
bad override_unknown_nested_key "<command line>:1:1: model.moe.experts: unknown key" \
  "$zoo" train gpt.yaml model.moe.experts=4
bad override_path_through_a_value "<command line>:1:1: model.n_layer: is a value, not a section; cannot set 'depth' in it" \
  "$zoo" train gpt.yaml model.n_layer.depth=3
bad override_number_given_a_list "<command line>:1:1: model.dropout: expected a number, got a list" \
  "$zoo" train gpt.yaml 'model.dropout=[0.1]'

bad recipe_missing_for_train "nowhere.yaml: cannot read recipe (no such file, or no permission)" \
  "$zoo" train nowhere.yaml
bad recipe_missing_for_data_tokenize "nowhere.yaml: cannot read recipe (no such file, or no permission)" \
  "$zoo" data tokenize nowhere.yaml
printf 'this is a shopping list, not a recipe\n' > prose.yaml
bad recipe_is_prose "prose.yaml:1:1: a recipe must be a mapping of keys (name:, data:, model:, ...)" \
  "$zoo" train prose.yaml
printf '\x00\x01\x02\xff\xfe binary' > binary.yaml
bad recipe_is_binary "binary.yaml:1:1: a recipe must be a mapping of keys" \
  "$zoo" validate binary.yaml
printf '# name: commented-out\n\n   \n' > comments_only.yaml
bad recipe_only_comments "comments_only.yaml:1:1: empty recipe (expected a mapping with name, data, model and trainer)" \
  "$zoo" train comments_only.yaml
mkdir recipe_dir
bad recipe_is_a_directory "recipe_dir: is a directory; give the recipe's YAML file" \
  "$zoo" train recipe_dir

cat > missing_valid.yaml <<'YAML'
name: missing-valid
tokenizer: {type: char}
data: {type: text, train: corpus.txt, valid: data/nowhere/valid.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer: {type: lm, max_steps: 4}
YAML
bad recipe_valid_file_missing "missing_valid.yaml:3:46: data.valid: file not found: data/nowhere/valid.txt" \
  "$zoo" train missing_valid.yaml
cat > missing_train_on.yaml <<'YAML'
name: missing-train-on
tokenizer: {type: char, train_on: nowhere.txt}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer: {type: lm, max_steps: 4}
YAML
# As data.train and data.valid do, these name the recipe's line (BadRecipes: missing_data_file.yaml).
bad recipe_train_on_file_missing "missing_train_on.yaml:2: ** tokenizer.train_on: 'nowhere.txt' is neither a key of the data section" \
  "$zoo" train missing_train_on.yaml
cat > missing_init_from.yaml <<'YAML'
name: missing-init-from
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer: {type: lm, max_steps: 4, init_from: runs/nowhere}
YAML
bad recipe_init_from_missing "missing_init_from.yaml:5: ** trainer.init_from: 'runs/nowhere' is not a directory" \
  "$zoo" train missing_init_from.yaml

cat > unknown_optimizer.yaml <<'YAML'
name: unknown-optimizer
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer:
  type: lm
  optimizer: {type: adam, lr: 1.0e-3}
YAML
bad recipe_unknown_optimizer "unknown_optimizer.yaml:7:21: trainer.optimizer.type: unknown optimizer type 'adam' (did you mean 'adamw'?); registered: adamw, sgd" \
  "$zoo" train unknown_optimizer.yaml
cat > unknown_scheduler.yaml <<'YAML'
name: unknown-scheduler
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer:
  type: lm
  scheduler: {type: cosin, warmup_steps: 10}
YAML
bad recipe_unknown_scheduler "unknown_scheduler.yaml:7:21: trainer.scheduler.type: unknown scheduler type 'cosin' (did you mean 'cosine'?); registered: constant, cosine, linear" \
  "$zoo" train unknown_scheduler.yaml
cat > unknown_tokenizer.yaml <<'YAML'
name: unknown-tokenizer
tokenizer: {type: bpe, vocab_size: 100}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer: {type: lm, max_steps: 4}
YAML
bad recipe_unknown_tokenizer "unknown_tokenizer.yaml:2:19: tokenizer.type: unknown tokenizer type 'bpe'; registered: char, saved, sentencepiece, word" \
  "$zoo" train unknown_tokenizer.yaml
cat > unknown_data.yaml <<'YAML'
name: unknown-data
tokenizer: {type: char}
data: {type: txt, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer: {type: lm, max_steps: 4}
YAML
bad recipe_unknown_data_type "unknown_data.yaml:3:14: data.type: unknown data type 'txt' (did you mean 'text'?); registered: classification," \
  "$zoo" train unknown_data.yaml

cat > nan_dropout.yaml <<'YAML'
name: nan-dropout
threads: 1
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16, dropout: .nan}
trainer: {type: lm, batch_size: 4, max_steps: 2}
YAML
bad recipe_nan_out_of_range "nan_dropout.yaml:5:81: model.dropout: expected a finite number, got .nan" \
  "$zoo" train nan_dropout.yaml

# ---------------------------------------------------------------------------------------------
# Data files.
: > empty.txt
bad data_empty_train_file "empty.txt: empty file" \
  "$zoo" train gpt.yaml data.train=empty.txt trainer.output_dir=runs/d1
: > empty.tsv
bad data_empty_classification_file "empty.tsv: no examples; write one label<TAB>text line (.tsv)" \
  "$zoo" train cls.yaml data.train=empty.tsv trainer.output_dir=runs/d2
{ head -5 corpus.txt; printf 'the cat \xff\xfe sat\n'; cat corpus.txt; } > latin1.txt
bad data_text_not_utf8 "latin1.txt:6: invalid UTF-8 byte 0xFF (byte 9 of the line); re-encode the file as UTF-8" \
  "$zoo" train gpt.yaml data.train=latin1.txt trainer.output_dir=runs/d3
{ head -3 cls.jsonl; printf '{"text": "g\xe9od", "label": "pos"}\n'; tail -5 cls.jsonl; } > latin1.jsonl
bad data_jsonl_not_utf8 "latin1.jsonl:4: invalid UTF-8 byte 0xE9 (byte 12 of the line); re-encode the file as UTF-8" \
  "$zoo" train cls.yaml data.train=latin1.jsonl trainer.output_dir=runs/d4
{ head -3 cls.jsonl; echo '{"text": "good bad", "label": "pos"'; tail -5 cls.jsonl; } > syntax.jsonl
bad data_jsonl_syntax_error "syntax.jsonl:4: not JSON (column 36: ** each line of a .jsonl file is one JSON object" \
  "$zoo" train cls.yaml data.train=syntax.jsonl trainer.output_dir=runs/d5
{ head -3 cls.jsonl; echo '["good bad", "pos"]'; tail -5 cls.jsonl; } > array.jsonl
bad data_jsonl_line_not_an_object "array.jsonl:4: an array, not a JSON object; each line of a .jsonl file is one JSON object" \
  "$zoo" train cls.yaml data.train=array.jsonl trainer.output_dir=runs/d6
{ head -3 cls.jsonl; echo '{"text": "good bad"}'; tail -5 cls.jsonl; } > no_label.jsonl
bad data_jsonl_missing_field "no_label.jsonl:4: no \"label\" field (keys: text); set data.label_field to the key of the label" \
  "$zoo" train cls.yaml data.train=no_label.jsonl trainer.output_dir=runs/d7
{ head -3 cls.jsonl; echo '{"text": "good bad", "label": "pos", "weight": 1e400}'; tail -5 cls.jsonl; } > overflow.jsonl
bad data_jsonl_number_overflow "overflow.jsonl:4: not JSON we can read (number overflow parsing '1e400'); write the number as a string or within a double's range" \
  "$zoo" train cls.yaml data.train=overflow.jsonl trainer.output_dir=runs/d10b
{ head -3 cls.tsv; printf 'pos\tgood\tbad\n'; tail -5 cls.tsv; } > three_fields.tsv
bad data_tsv_three_fields "three_fields.tsv:4: 3 tab-separated fields, expected 2 (label<TAB>text)" \
  "$zoo" train cls.yaml data.train=three_fields.tsv trainer.output_dir=runs/d8
{ head -3 cls.tsv; printf 'pos good bad\n'; tail -5 cls.tsv; } > one_field.tsv
bad data_tsv_one_field "one_field.tsv:4: 1 tab-separated field, expected 2 (label<TAB>text)" \
  "$zoo" train cls.yaml data.train=one_field.tsv trainer.output_dir=runs/d9
{ head -3 cls.tsv; printf '\tgood bad\n'; tail -5 cls.tsv; } > empty_label.tsv
bad data_tsv_empty_label "empty_label.tsv:4: the label is empty; fill it in or remove the line" \
  "$zoo" train cls.yaml data.train=empty_label.tsv trainer.output_dir=runs/d10

head -c 100 good.tokens > "$token_file"
bad data_token_file_truncated "$token_file: holds 100 bytes, its header promises ** (truncated?); delete it and write it again with \`zoo data tokenize\`" \
  "$zoo" train tk.yaml trainer.output_dir=runs/d11
cp good.tokens "$token_file"
printf 'NOTATOKS' | dd of="$token_file" conv=notrunc status=none
bad data_token_file_bad_magic "$token_file: not a token file (bad magic); delete it and write it again with \`zoo data tokenize\`" \
  "$zoo" train tk.yaml trainer.output_dir=runs/d12
# A whole header, the right size, ids beyond the vocabulary (0xffff each).
$python - "$token_file" <<'PY'
import sys
data = bytearray(open("good.tokens", "rb").read())
data[64:] = b"\xff" * (len(data) - 64)
open(sys.argv[1], "wb").write(data)
PY
bad data_token_file_ids_beyond_vocabulary "$token_file: token 0 is id 65535, outside its vocabulary of 21 (damaged); delete it and write it again with \`zoo data tokenize\`" \
  "$zoo" train tk.yaml trainer.output_dir=runs/d13
cp good.tokens "$token_file"

{ head -12 tag.conll; printf 'good\n'; tail -20 tag.conll; } > no_tag.conll
bad data_conll_word_without_tag "no_tag.conll:13: a word without a tag; write word<TAB>tag (the tag is the last field), a blank line between sentences" \
  "$zoo" train tag.yaml data.train=no_tag.conll trainer.output_dir=runs/d14
printf '\n\n\n' > blank.conll
bad data_conll_no_sentences "blank.conll: no examples; write one word<TAB>tag line per word" \
  "$zoo" train tag.yaml data.train=blank.conll trainer.output_dir=runs/d15
{ head -12 tag.conll; printf 'zebra\tZZZ\n\n'; } > unknown_tag.conll
bad data_conll_unknown_valid_tag "unknown_tag.conll:13: tag 'ZZZ' not in the training tags (A, B); fix the tag, or set data.unknown_tag: skip" \
  "$zoo" train tag.yaml data.valid=unknown_tag.conll trainer.output_dir=runs/d16
{ head -3 tag.jsonl; echo '{"tokens": ["good", "bad"], "tags": ["A"]}'; tail -5 tag.jsonl; } > short_tags.jsonl
bad data_tagging_jsonl_tags_short "short_tags.jsonl:4: 2 words but 1 tags; give one tag per word" \
  "$zoo" train tag.yaml data.train=short_tags.jsonl trainer.output_dir=runs/d17

# ---------------------------------------------------------------------------------------------
# Saved tokenizers.
cp -r runs/A/best/tokenizer char_truncated
head -c 40 runs/A/best/tokenizer/tokenizer.json > char_truncated/tokenizer.json
bad tokenizer_json_truncated "char_truncated/tokenizer.json: not a saved tokenizer ** train it again or restore the file" \
  "$zoo" tokenizer encode char_truncated "the cat"
bad tokenizer_json_truncated_in_recipe "char_truncated/tokenizer.json: not a saved tokenizer ** train it again or restore the file" \
  "$zoo" train gpt.yaml 'tokenizer={type: saved, path: char_truncated}' trainer.output_dir=runs/t1
mkdir char_missing
bad tokenizer_json_missing "char_missing/tokenizer.json: cannot open file (check the path)" \
  "$zoo" tokenizer encode char_missing "the cat"
cp -r spm spm_no_model
rm spm_no_model/tokenizer.model
bad tokenizer_model_missing "spm_no_model/tokenizer.model: missing (the SentencePiece model of spm_no_model/tokenizer.json); train the tokenizer again or restore the file" \
  "$zoo" tokenizer encode spm_no_model "the cat"
cp -r spm spm_truncated
head -c 1000 spm/tokenizer.model > spm_truncated/tokenizer.model
bad tokenizer_model_truncated "spm_truncated/tokenizer.model: not a SentencePiece model ** train the tokenizer again or restore the file" \
  "$zoo" tokenizer encode spm_truncated "the cat"
cat > saved_nowhere.yaml <<'YAML'
name: saved-nowhere
tokenizer: {type: saved, path: nonexistent}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer: {type: lm, max_steps: 4}
YAML
bad tokenizer_saved_path_missing "saved_nowhere.yaml:2: ** tokenizer.path: 'nonexistent' is not a directory" \
  "$zoo" train saved_nowhere.yaml

# ---------------------------------------------------------------------------------------------
# Checkpoints. `cp -r` copies best/ apart from its step directory (they are hard links in a run).
cp -r runs/A runs/truncated
for f in runs/truncated/best/model.pt runs/truncated/checkpoints/step_000004/model.pt; do head -c 2000 runs/A/best/model.pt > "$f"; done
bad checkpoint_truncated_eval "runs/truncated/best/model.pt: cannot load model weights (corrupt, or from a different model config)" \
  "$zoo" eval runs/truncated
bad checkpoint_truncated_generate "runs/truncated/checkpoints/step_000004/model.pt: cannot load model weights (corrupt" \
  "$zoo" generate runs/truncated --prompt "the " --max-new-tokens 4
bad checkpoint_truncated_resume "runs/truncated/checkpoints/step_000004/model.pt: cannot load model weights (corrupt" \
  "$zoo" train --resume runs/truncated trainer.max_steps=8

# Run B (d_model 48) holding run A's weights (d_model 32).
cp -r runs/B runs/other_config
for f in runs/other_config/best/model.pt runs/other_config/checkpoints/step_000004/model.pt; do cp runs/A/best/model.pt "$f"; done
bad checkpoint_other_config_eval "runs/other_config/best/model.pt: holds the weights of another model configuration: wte.weight is 21x32 there, 21x48" \
  "$zoo" eval runs/other_config
bad checkpoint_other_config_generate "runs/other_config/checkpoints/step_000004/model.pt: holds the weights of another model configuration" \
  "$zoo" generate runs/other_config --prompt "the " --max-new-tokens 4
bad checkpoint_other_config_resume "runs/other_config/checkpoints/step_000004/model.pt: holds the weights of another model configuration" \
  "$zoo" train --resume runs/other_config trainer.max_steps=8

cat > init_other_vocab.yaml <<'YAML'
name: init-other-vocab
threads: 1
tokenizer: {type: word}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16}
trainer: {type: lm, batch_size: 4, max_steps: 2, init_from: runs/A}
YAML
bad init_from_other_vocabulary "trainer.init_from: the pretrained run's vocabulary differs from this recipe's tokenizer: runs/A/best (char tokenizer ** use the pretrained tokenizer (tokenizer: {type: saved, path: runs/A})" \
  "$zoo" train init_other_vocab.yaml
cat > init_other_width.yaml <<'YAML'
name: init-other-width
threads: 1
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 16}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 48, block_size: 16}
trainer: {type: lm, batch_size: 4, max_steps: 2, init_from: runs/A}
YAML
bad init_from_other_width "runs/A/best: none of its tensors has this model's shape (wte.weight (checkpoint [21, 32] vs model [21, 48]), ** init_from needs a run of the same model type and size" \
  "$zoo" train init_other_width.yaml

mkdir not_a_run
cp corpus.txt not_a_run/
bad eval_not_a_run "not_a_run: no checkpoint 'best' (use latest, best, step_N or base; is this a run directory?)" \
  "$zoo" eval not_a_run
bad eval_checkpoint_missing "runs/A: no checkpoint 'step_999' (use latest, best, step_N or base" \
  "$zoo" eval runs/A --checkpoint step_999
bad resume_not_a_run "not_a_run: no checkpoint to resume from (is this a run directory? it has no checkpoints/step_* yet)" \
  "$zoo" train --resume not_a_run

cp -r runs/A runs/bad_state
echo '{"step": ' > runs/bad_state/checkpoints/step_000004/state.json
bad resume_state_json_truncated "runs/bad_state/checkpoints/step_000004/state.json: not a checkpoint's state (damaged)" \
  "$zoo" train --resume runs/bad_state trainer.max_steps=8
cp -r runs/A runs/bad_data_state
echo garbage > runs/bad_data_state/checkpoints/step_000004/data_state.bin
bad resume_data_state_damaged "runs/bad_data_state/checkpoints/step_000004/data_state.bin: ** damaged" \
  "$zoo" train --resume runs/bad_data_state trainer.max_steps=8
cp -r runs/A runs/bad_optimizer
head -c 100 runs/A/checkpoints/step_000004/optimizer.pt > runs/bad_optimizer/checkpoints/step_000004/optimizer.pt
bad resume_optimizer_truncated "runs/bad_optimizer/checkpoints/step_000004: cannot load optimizer or RNG state" \
  "$zoo" train --resume runs/bad_optimizer trainer.max_steps=8

# ---------------------------------------------------------------------------------------------
# Exported archives.
head -c 5000 runs/A/export/model.pt > truncated.pt
bad archive_truncated "truncated.pt: not a TorchScript archive torch::jit::load can read" \
  "$zoo" generate --torchscript truncated.pt --prompt "the " --max-new-tokens 4
bad archive_is_text "corpus.txt: not a TorchScript archive torch::jit::load can read" \
  "$zoo" generate --torchscript corpus.txt --prompt "the " --max-new-tokens 4
bad archive_missing "nowhere.pt: no such file (write one with zoo export RUN_DIR)" \
  "$zoo" generate --torchscript nowhere.pt --prompt "the " --max-new-tokens 4
bad archive_is_a_checkpoint "runs/A/best/model.pt: a TorchScript archive without zoo/manifest.json, so not one zoo export wrote" \
  "$zoo" generate --torchscript runs/A/best/model.pt --prompt "the " --max-new-tokens 4
# Valid TorchScript archives whose zoo files are damaged, rewritten with torch.jit.
$python - <<'PY'
import torch
names = ["zoo/manifest.json", "zoo/recipe.yaml", "zoo/tokenizer/tokenizer.json", "zoo/vocab.txt"]
def variant(out, name, content):
    extra = {n: "" for n in names}
    module = torch.jit.load("runs/A/export/model.pt", _extra_files=extra)
    if content is None:
        del extra[name]
    else:
        extra[name] = content
    torch.jit.save(module, out, _extra_files=extra)
variant("bad_manifest.pt", "zoo/manifest.json", "{not json")
variant("no_tokenizer.pt", "zoo/tokenizer/tokenizer.json", None)
PY
bad archive_manifest_not_json "bad_manifest.pt: zoo/manifest.json is not a JSON object (damaged); export the run again" \
  "$zoo" generate --torchscript bad_manifest.pt --prompt "the " --max-new-tokens 4
bad archive_tokenizer_missing "no_tokenizer.pt: zoo/tokenizer/tokenizer.json is missing from the archive (damaged)" \
  "$zoo" generate --torchscript no_tokenizer.pt --prompt "the " --max-new-tokens 4

# ---------------------------------------------------------------------------------------------
if [[ ${#failed[@]} -gt 0 ]]; then
  echo
  echo "${#failed[@]} of $cases bad inputs are not handled as one line with exit code 2:"
  printf '%s' "$report"
  echo "FAIL: ${#failed[@]} of $cases bad inputs misbehave: ${failed[*]}"
  exit 1
fi
echo "ok: $cases bad inputs, each one line and exit code 2"
