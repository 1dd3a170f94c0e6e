// libFuzzer target: the tokenizers' decode path (and encode of raw bytes). The input's first
// byte splits the rest: a training text for a character tokenizer (with <pad> and </s>), and
// bytes read as token ids, any value, decoded; the text is encoded and decoded back, which must
// give the text again wherever it is valid UTF-8 of known characters. Anything but a UserError,
// or a round trip that differs, is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizers/char.h"
#include "tokenizers/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t split = 1 + data[0] % (size - 1);
  const std::string text(reinterpret_cast<const char*>(data + 1), split - 1);
  try {
    using zoo::tokenizers::Special;
    auto tokenizer = zoo::tokenizers::CharTokenizer::fit(text, "fuzz", {Special::pad, Special::eos});
    std::vector<int64_t> ids;
    for (size_t i = split; i + 1 < size; i += 2) {
      // Small ids mostly, with the sign bit and huge values now and then.
      int64_t id = data[i] | (data[i + 1] << 8);
      if (data[i + 1] & 0x80) id = -id;
      if (data[i + 1] == 0xff) id = INT64_MAX - data[i];
      ids.push_back(id);
    }
    (void)tokenizer->decode(ids);
    const std::vector<int64_t> encoded = tokenizer->encode(text);
    bool valid = true;
    try {
      zoo::tokenizers::check_utf8(text, "fuzz");
    } catch (const zoo::UserError&) {
      valid = false;
    }
    if (valid && tokenizer->decode(encoded) != text) std::abort();  // every character was seen in fit
  } catch (const zoo::UserError&) {
  }
  return 0;
}
