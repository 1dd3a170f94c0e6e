// UTF-8 decoding, encoding and validation (RFC 3629).
#include "tokenizers/utf8.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace zoo::tokenizers {

bool decode_utf8(std::string_view text, size_t& pos, char32_t& code_point) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    code_point = lead;
    ++pos;
    return true;
  }
  size_t length;
  char32_t value, min_value;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, value = lead & 0x1F, min_value = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, value = lead & 0x0F, min_value = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, value = lead & 0x07, min_value = 0x10000;
  } else {
    ++pos;  // a continuation byte without a lead, or 0xF8..0xFF
    return false;
  }
  if (pos + length > text.size()) {
    ++pos;
    return false;
  }
  for (size_t i = 1; i < length; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) {
      ++pos;
      return false;
    }
    value = (value << 6) | (byte(pos + i) & 0x3F);
  }
  if (value < min_value || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
    ++pos;
    return false;
  }
  code_point = value;
  pos += length;
  return true;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void check_utf8(std::string_view text, const std::string& file) {
  size_t pos = 0, line = 1, line_start = 0;
  char32_t cp;
  while (pos < text.size()) {
    const size_t at = pos;
    if (!decode_utf8(text, pos, cp)) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[at]));
      throw UserError(file + ":" + std::to_string(line) + ": invalid UTF-8 byte " + hex + " (byte " +
                      std::to_string(at - line_start + 1) +
                      " of the line); re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)");
    }
    if (cp == '\n') ++line, line_start = pos;
  }
}

std::string replace_invalid_utf8(std::string_view text, size_t* replaced) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0, count = 0;
  char32_t cp;
  while (pos < text.size()) {
    const size_t at = pos;
    if (decode_utf8(text, pos, cp)) {
      out.append(text.substr(at, pos - at));
    } else {
      append_utf8(out, 0xFFFD);
      ++count;
    }
  }
  if (replaced) *replaced = count;
  return out;
}

}  // namespace zoo::tokenizers
