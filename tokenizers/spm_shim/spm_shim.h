/* The plain C API of libzoo_spm_shim.so, our wrapper of Debian's SentencePiece.
 *
 * SentencePiece carries its own protobuf and cannot share a link map with libtorch, so the
 * tokenizer loads this library with dlmopen(LM_ID_NEWLM) into a namespace of its own. Only C
 * types cross: memory the shim allocates (models, batches) is freed by the shim's own free
 * functions; everything else lives in caller-owned buffers. No function throws; failures
 * return 0 / NULL / -1 and write a one-line message into the caller's `error` buffer
 * (truncated to error_size, always NUL-terminated when error_size > 0).
 *
 * Both sides include this header; the tokenizer resolves each function with dlsym by the
 * names below (the typedefs are the pointer types it uses). */
#ifndef ZOO_SPM_SHIM_H_
#define ZOO_SPM_SHIM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a signature or struct below changes; the loader refuses another version. */
#define ZOO_SPM_SHIM_ABI 1

typedef struct zoo_spm_model zoo_spm_model; /* opaque: a loaded SentencePieceProcessor */

/* Trainer settings; the field names are SentencePiece's trainer flags. Strings are UTF-8. */
typedef struct zoo_spm_train_options {
  const char* model_type; /* "bpe" or "unigram" */
  int32_t vocab_size;
  double character_coverage;
  int32_t byte_fallback;              /* 0 or 1 */
  const char* const* user_defined_symbols; /* pieces always kept whole; no commas */
  size_t num_user_defined_symbols;
  int32_t unk_id, bos_id, eos_id, pad_id; /* -1 = none (unk must exist) */
  const char* unk_piece;
  const char* bos_piece;
  const char* eos_piece;
  const char* pad_piece;
  int32_t max_sentence_length;   /* bytes; longer lines are left out of training */
  int64_t input_sentence_size;   /* lines sampled (with SentencePiece's fixed seed); 0 = all */
  int32_t num_threads;           /* training threads; 0 = every core */
  const char* normalization_rule_name; /* "nmt_nfkc", "identity", ... */
  int32_t remove_extra_whitespaces;    /* 0 or 1 */
  int32_t split_digits;                /* 0 or 1 */
} zoo_spm_train_options;

/* Ids of many texts, owned by the shim: text i has ids[offsets[i] .. offsets[i+1]). */
typedef struct zoo_spm_batch {
  size_t num_texts;
  const size_t* offsets; /* num_texts + 1 entries */
  const int32_t* ids;
  void* internal; /* the shim's storage; release with zoo_spm_batch_free */
} zoo_spm_batch;

/* ZOO_SPM_SHIM_ABI of the library. */
int zoo_spm_abi_version(void);

/* Trains on the lines of the UTF-8 text file `input_file` (SentencePiece's training logs are
 * silenced; its errors come back in `error`). Returns the trained model, or NULL. */
zoo_spm_model* zoo_spm_train(const char* input_file, const zoo_spm_train_options* options, char* error,
                             size_t error_size);

/* Loads a model from serialized ModelProto bytes (the contents of a .model file). Returns
 * NULL with a message for bytes that are not a SentencePiece model. */
zoo_spm_model* zoo_spm_load(const char* bytes, size_t size, char* error, size_t error_size);

void zoo_spm_free(zoo_spm_model* model);

/* The serialized ModelProto (what a .model file holds); valid while the model lives. */
const char* zoo_spm_serialized(const zoo_spm_model* model, size_t* size);

int32_t zoo_spm_vocab_size(const zoo_spm_model* model);
int32_t zoo_spm_unk_id(const zoo_spm_model* model);
int32_t zoo_spm_bos_id(const zoo_spm_model* model);
int32_t zoo_spm_eos_id(const zoo_spm_model* model);
int32_t zoo_spm_pad_id(const zoo_spm_model* model);

/* The piece of `id` (valid while the model lives), or NULL when id is out of range. */
const char* zoo_spm_id_to_piece(const zoo_spm_model* model, int32_t id, size_t* size);
/* The id of `piece`, or the unk id when the vocabulary has no such piece. */
int32_t zoo_spm_piece_to_id(const zoo_spm_model* model, const char* piece, size_t size);

/* Encodes texts[i] (lengths[i] bytes each) into `out`, spreading the texts over `num_threads`
 * threads (0 = every core). The ids are SentencePieceProcessor::Encode's, text by text; for BPE
 * models with SentencePiece's whitespace handling, words repeated within the batch are encoded
 * once. Returns 1, or 0 with a message. Release `out` with zoo_spm_batch_free. */
int zoo_spm_encode_batch(const zoo_spm_model* model, const char* const* texts, const size_t* lengths,
                         size_t num_texts, int32_t num_threads, zoo_spm_batch* out, char* error,
                         size_t error_size);
void zoo_spm_batch_free(zoo_spm_batch* batch);

/* Decodes `ids` into the caller's buffer. Returns the length of the text, which may exceed
 * `capacity` (then nothing past `capacity` is written: call again with a larger buffer), or
 * -1 with a message (an id out of range). */
int64_t zoo_spm_decode(const zoo_spm_model* model, const int32_t* ids, size_t num_ids, char* out, size_t capacity,
                       char* error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* ZOO_SPM_SHIM_H_ */
