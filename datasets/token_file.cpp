// Token files: writing them, mapping them, and windows gathered from a token stream.
#include "datasets/token_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "core/error.h"
#include "core/files.h"
#include "tokenizers/utf8.h"

namespace zoo::datasets {
namespace {

constexpr char kMagic[8] = {'Z', 'O', 'O', 'T', 'O', 'K', 'S', '1'};
constexpr size_t kHeaderBytes = 64;

struct Header {
  char magic[8];
  uint32_t width;
  uint32_t reserved;
  uint64_t count;
  uint64_t vocab_size;
  char tokenizer_fingerprint[16];
  char source_hash[16];
};
static_assert(sizeof(Header) == kHeaderBytes);

int width_for(int64_t vocab_size) { return vocab_size <= (int64_t{1} << 16) ? 2 : 4; }

// Packs ids into 2- or 4-byte little-endian tokens (the machines we run on are little-endian).
std::string pack(const std::vector<int64_t>& ids, int width) {
  std::string bytes(ids.size() * static_cast<size_t>(width), '\0');
  if (width == 2) {
    auto* out = reinterpret_cast<uint16_t*>(bytes.data());
    for (size_t i = 0; i < ids.size(); ++i) out[i] = static_cast<uint16_t>(ids[i]);
  } else {
    auto* out = reinterpret_cast<uint32_t*>(bytes.data());
    for (size_t i = 0; i < ids.size(); ++i) out[i] = static_cast<uint32_t>(ids[i]);
  }
  return bytes;
}

struct Mapping {
  void* address = nullptr;
  size_t length = 0;
  ~Mapping() {
    if (address) ::munmap(address, length);
  }
};

}  // namespace

TokenStream TokenStream::from_ids(const std::vector<int64_t>& ids, int64_t vocab_size) {
  TokenStream stream;
  stream.width_ = width_for(vocab_size);
  auto bytes = std::make_shared<std::string>(pack(ids, stream.width_));
  stream.base_ = reinterpret_cast<const unsigned char*>(bytes->data());
  stream.storage_ = bytes;
  stream.size_ = static_cast<int64_t>(ids.size());
  stream.vocab_size_ = vocab_size;
  return stream;
}

TokenStream TokenStream::map_file(const std::string& path) {
  const auto fail = [&](const std::string& what) {
    return UserError(path + ": " + what + "; delete it and write it again with `zoo data tokenize`");
  };
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw UserError(path + ": cannot open the token file (" + std::strerror(errno) + ")");
  struct stat info {};
  if (::fstat(fd, &info) != 0 || static_cast<size_t>(info.st_size) < kHeaderBytes) {
    ::close(fd);
    throw fail("too short for a token file");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->length = static_cast<size_t>(info.st_size);
  mapping->address = ::mmap(nullptr, mapping->length, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (mapping->address == MAP_FAILED) {
    mapping->address = nullptr;
    throw fail(std::string("cannot be memory-mapped (") + std::strerror(errno) + ")");
  }
  Header header;
  std::memcpy(&header, mapping->address, kHeaderBytes);
  if (std::memcmp(header.magic, kMagic, sizeof kMagic) != 0) throw fail("not a token file (bad magic)");
  if (header.width != 2 && header.width != 4) throw fail("unknown token width " + std::to_string(header.width));
  if (kHeaderBytes + header.count * header.width != mapping->length)
    throw fail("holds " + std::to_string(mapping->length) + " bytes, its header promises " +
               std::to_string(kHeaderBytes + header.count * header.width) + " (truncated?)");
  TokenStream stream;
  stream.width_ = static_cast<int>(header.width);
  stream.base_ = static_cast<const unsigned char*>(mapping->address) + kHeaderBytes;
  stream.storage_ = mapping;
  stream.size_ = static_cast<int64_t>(header.count);
  stream.vocab_size_ = static_cast<int64_t>(header.vocab_size);
  stream.tokenizer_fingerprint_.assign(header.tokenizer_fingerprint, sizeof header.tokenizer_fingerprint);
  stream.source_hash_.assign(header.source_hash, sizeof header.source_hash);
  // One pass over the ids before any window is read: an id past the vocabulary would index
  // outside the embedding.
  const auto out_of_range = [&](auto* ids) {
    for (uint64_t i = 0; i < header.count; ++i)
      if (ids[i] >= header.vocab_size) return static_cast<int64_t>(i);
    return int64_t{-1};
  };
  const int64_t bad = header.width == 2 ? out_of_range(reinterpret_cast<const uint16_t*>(stream.base_))
                                        : out_of_range(reinterpret_cast<const uint32_t*>(stream.base_));
  if (bad >= 0)
    throw fail("token " + std::to_string(bad) + " is id " + std::to_string(stream.at(bad)) +
               ", outside its vocabulary of " + std::to_string(header.vocab_size) + " (damaged)");
  ::madvise(mapping->address, mapping->length, MADV_RANDOM);  // windows are read at random starts
  return stream;
}

TokenStream TokenStream::slice(int64_t begin, int64_t end) const {
  if (begin < 0 || end > size_ || begin > end) throw std::out_of_range("TokenStream::slice out of range");
  TokenStream part = *this;
  part.base_ = base_ + begin * width_;
  part.size_ = end - begin;
  return part;
}

int64_t TokenStream::at(int64_t index) const {
  if (index < 0 || index >= size_) throw std::out_of_range("TokenStream::at out of range");
  return width_ == 2 ? reinterpret_cast<const uint16_t*>(base_)[index] : reinterpret_cast<const uint32_t*>(base_)[index];
}

void TokenStream::gather(const int64_t* starts, int64_t count, int64_t length, int64_t* out) const {
  for (int64_t b = 0; b < count; ++b) {
    if (starts[b] < 0 || starts[b] + length > size_) throw std::out_of_range("TokenStream::gather window out of range");
    int64_t* row = out + b * length;
    if (width_ == 2) {
      const uint16_t* from = reinterpret_cast<const uint16_t*>(base_) + starts[b];
      for (int64_t j = 0; j < length; ++j) row[j] = from[j];
    } else {
      const uint32_t* from = reinterpret_cast<const uint32_t*>(base_) + starts[b];
      for (int64_t j = 0; j < length; ++j) row[j] = from[j];
    }
  }
}

std::vector<int64_t> tokenize_text(const std::string& text, const std::string& file,
                                   const tokenizers::Tokenizer& tokenizer, bool replace_invalid) {
  std::string checked;
  if (replace_invalid) {
    size_t replaced = 0;
    checked = tokenizers::replace_invalid_utf8(text, &replaced);
  } else {
    tokenizers::check_utf8(text, file);
  }
  const std::string& valid = replace_invalid ? checked : text;
  // Lines (each with its newline) are encoded as a batch: in parallel, and for the char and
  // word tokenizers exactly as the whole text would be.
  std::vector<std::string> lines;
  for (size_t begin = 0; begin < valid.size();) {
    size_t end = valid.find('\n', begin);
    end = end == std::string::npos ? valid.size() : end + 1;
    lines.emplace_back(valid, begin, end - begin);
    begin = end;
  }
  std::vector<int64_t> ids;
  ids.reserve(valid.size() / 2);
  for (const auto& line_ids : tokenizer.encode_batch(lines)) ids.insert(ids.end(), line_ids.begin(), line_ids.end());
  return ids;
}

std::string token_file_path(const std::string& text_file, const std::string& tokenizer_fingerprint) {
  return text_file + "." + tokenizer_fingerprint + ".tokens";
}

std::string write_token_file(const std::string& text_file, const tokenizers::Tokenizer& tokenizer,
                             bool replace_invalid) {
  const std::string text = read_file(text_file);
  const std::vector<int64_t> ids = tokenize_text(text, text_file, tokenizer, replace_invalid);
  if (ids.empty()) throw UserError(text_file + ": empty file; there is nothing to tokenize");
  const std::string print = fingerprint(tokenizer);
  const std::string source = content_hash(text);
  Header header{};
  std::memcpy(header.magic, kMagic, sizeof kMagic);
  header.width = static_cast<uint32_t>(width_for(tokenizer.vocab_size()));
  header.count = ids.size();
  header.vocab_size = static_cast<uint64_t>(tokenizer.vocab_size());
  std::memcpy(header.tokenizer_fingerprint, print.data(), sizeof header.tokenizer_fingerprint);
  std::memcpy(header.source_hash, source.data(), sizeof header.source_hash);
  const std::string path = token_file_path(text_file, print);
  write_file_atomic(path, std::string(reinterpret_cast<const char*>(&header), kHeaderBytes) + pack(ids, header.width));
  return path;
}

bool open_token_file(const std::string& text_file, const std::string& tokenizer_fingerprint, TokenStream& stream) {
  const std::string path = token_file_path(text_file, tokenizer_fingerprint);
  if (!std::filesystem::exists(path)) return false;
  TokenStream mapped = TokenStream::map_file(path);
  if (mapped.tokenizer_fingerprint() != tokenizer_fingerprint || mapped.source_hash() != file_hash(text_file))
    return false;  // written for another tokenizer or an earlier version of the text
  stream = std::move(mapped);
  return true;
}

}  // namespace zoo::datasets
