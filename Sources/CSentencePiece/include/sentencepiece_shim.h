// A C face for Debian's libsentencepiece (C++), so that Swift needs no C++ interoperability.
// Every function is safe on any input: failures come back as NULL or -1 with a message.
#ifndef SEQLENS_SENTENCEPIECE_SHIM_H
#define SEQLENS_SENTENCEPIECE_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct SeqLensSentencePiece SeqLensSentencePiece;
typedef struct SeqLensSentencePieceEncoding SeqLensSentencePieceEncoding;

/// Loads a serialized ModelProto (the bytes of a .spm / .model file). On failure returns NULL and,
/// when `error` is not NULL, a malloc'd message the caller frees.
SeqLensSentencePiece *seqlens_spm_load(const char *bytes, size_t length, char **error);
void seqlens_spm_free(SeqLensSentencePiece *model);

int seqlens_spm_piece_count(const SeqLensSentencePiece *model);
/// The piece of `id` (owned by the model); NULL outside the vocabulary.
const char *seqlens_spm_id_to_piece(const SeqLensSentencePiece *model, int id, size_t *length);
/// The id of `piece`, or the unknown id when the model has no such piece.
int seqlens_spm_piece_to_id(const SeqLensSentencePiece *model, const char *piece, size_t length);
/// 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte; 0 outside the vocabulary.
int seqlens_spm_piece_type(const SeqLensSentencePiece *model, int id);
/// The model's special ids (-1 where it has none): 0 unk, 1 bos, 2 eos, 3 pad.
int seqlens_spm_special_id(const SeqLensSentencePiece *model, int which);

/// Encodes UTF-8 text (normalised by the model's own normaliser); NULL with a message on failure.
SeqLensSentencePieceEncoding *seqlens_spm_encode(const SeqLensSentencePiece *model, const char *text, size_t length,
                                                 char **error);
size_t seqlens_spm_encoding_count(const SeqLensSentencePieceEncoding *encoding);
/// Piece `index` of an encoding: its id, its text (owned by the encoding) and its UTF-8 byte range
/// in the original text.
void seqlens_spm_encoding_piece(const SeqLensSentencePieceEncoding *encoding, size_t index, int *id,
                                const char **piece, size_t *pieceLength, uint32_t *begin, uint32_t *end);
void seqlens_spm_encoding_free(SeqLensSentencePieceEncoding *encoding);

/// The text that `count` pieces spell (the model's decoder); a malloc'd string the caller frees,
/// NULL with a message on failure.
char *seqlens_spm_decode_pieces(const SeqLensSentencePiece *model, const char *const *pieces, const size_t *lengths,
                                size_t count, size_t *outLength, char **error);

#ifdef __cplusplus
}
#endif

#endif
