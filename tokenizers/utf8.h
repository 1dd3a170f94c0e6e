// UTF-8 for the text tokenizers and datasets: one code point at a time, strict validation
// with file:line errors, and reading whole files.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace zoo::tokenizers {

// Decodes the code point starting at text[pos] and advances `pos` past it. On an invalid
// sequence (stray continuation byte, truncated or overlong sequence, surrogate, value above
// U+10FFFF) returns false and advances `pos` by one byte.
bool decode_utf8(std::string_view text, size_t& pos, char32_t& code_point);

// Appends the UTF-8 encoding of a valid code point.
void append_utf8(std::string& out, char32_t code_point);

// Throws UserError "FILE:LINE: invalid UTF-8 byte 0xNN (byte COL of the line); ..." at the
// first invalid sequence of `text`, the contents of `file`.
void check_utf8(std::string_view text, const std::string& file);

// `text` with every invalid sequence (each byte decode_utf8 rejects) replaced by U+FFFD, the
// Unicode replacement character; `replaced` (when given) receives how many were replaced.
std::string replace_invalid_utf8(std::string_view text, size_t* replaced);

}  // namespace zoo::tokenizers
