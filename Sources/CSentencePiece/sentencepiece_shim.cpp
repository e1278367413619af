#include "sentencepiece_shim.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

struct SeqLensSentencePiece {
    sentencepiece::SentencePieceProcessor processor;
};

struct SeqLensSentencePieceEncoding {
    sentencepiece::ImmutableSentencePieceText text;
    std::vector<sentencepiece::ImmutableSentencePieceText_ImmutableSentencePiece> pieces;
};

static void report(char **error, const std::string &message) {
    if (error == nullptr) return;
    *error = static_cast<char *>(std::malloc(message.size() + 1));
    if (*error != nullptr) std::memcpy(*error, message.c_str(), message.size() + 1);
}

extern "C" SeqLensSentencePiece *seqlens_spm_load(const char *bytes, size_t length, char **error) {
    try {
        auto *model = new SeqLensSentencePiece();
        auto status = model->processor.LoadFromSerializedProto(std::string_view(bytes, length));
        if (!status.ok()) {
            report(error, status.ToString());
            delete model;
            return nullptr;
        }
        return model;
    } catch (const std::exception &e) {
        report(error, e.what());
        return nullptr;
    }
}

extern "C" void seqlens_spm_free(SeqLensSentencePiece *model) { delete model; }

extern "C" int seqlens_spm_piece_count(const SeqLensSentencePiece *model) { return model->processor.GetPieceSize(); }

extern "C" const char *seqlens_spm_id_to_piece(const SeqLensSentencePiece *model, int id, size_t *length) {
    if (id < 0 || id >= model->processor.GetPieceSize()) return nullptr;
    const std::string &piece = model->processor.IdToPiece(id);
    *length = piece.size();
    return piece.data();
}

extern "C" int seqlens_spm_piece_to_id(const SeqLensSentencePiece *model, const char *piece, size_t length) {
    return model->processor.PieceToId(std::string_view(piece, length));
}

extern "C" int seqlens_spm_piece_type(const SeqLensSentencePiece *model, int id) {
    const auto &p = model->processor;
    if (id < 0 || id >= p.GetPieceSize()) return 0;
    if (p.IsUnknown(id)) return 2;
    if (p.IsControl(id)) return 3;
    if (p.IsUnused(id)) return 5;
    if (p.IsByte(id)) return 6;
    // User-defined pieces are not told apart by the public API; they tokenize like normal ones.
    return 1;
}

extern "C" int seqlens_spm_special_id(const SeqLensSentencePiece *model, int which) {
    const auto &p = model->processor;
    switch (which) {
        case 0: return p.unk_id();
        case 1: return p.bos_id();
        case 2: return p.eos_id();
        case 3: return p.pad_id();
        default: return -1;
    }
}

extern "C" SeqLensSentencePieceEncoding *seqlens_spm_encode(const SeqLensSentencePiece *model, const char *text,
                                                            size_t length, char **error) {
    try {
        auto *encoding = new SeqLensSentencePieceEncoding();
        auto status = model->processor.Encode(std::string_view(text, length), encoding->text.mutable_proto());
        if (!status.ok()) {
            report(error, status.ToString());
            delete encoding;
            return nullptr;
        }
        encoding->pieces = encoding->text.pieces();
        return encoding;
    } catch (const std::exception &e) {
        report(error, e.what());
        return nullptr;
    }
}

extern "C" size_t seqlens_spm_encoding_count(const SeqLensSentencePieceEncoding *encoding) {
    return encoding->pieces.size();
}

extern "C" void seqlens_spm_encoding_piece(const SeqLensSentencePieceEncoding *encoding, size_t index, int *id,
                                           const char **piece, size_t *pieceLength, uint32_t *begin, uint32_t *end) {
    const auto &p = encoding->pieces[index];
    *id = static_cast<int>(p.id());
    *piece = p.piece().data();
    *pieceLength = p.piece().size();
    *begin = p.begin();
    *end = p.end();
}

extern "C" void seqlens_spm_encoding_free(SeqLensSentencePieceEncoding *encoding) { delete encoding; }

extern "C" char *seqlens_spm_decode_pieces(const SeqLensSentencePiece *model, const char *const *pieces,
                                           const size_t *lengths, size_t count, size_t *outLength, char **error) {
    try {
        std::vector<std::string> input;
        input.reserve(count);
        for (size_t i = 0; i < count; i++) input.emplace_back(pieces[i], lengths[i]);
        std::string text;
        auto status = model->processor.Decode(input, &text);
        if (!status.ok()) {
            report(error, status.ToString());
            return nullptr;
        }
        char *out = static_cast<char *>(std::malloc(text.size() + 1));
        if (out == nullptr) {
            report(error, "out of memory");
            return nullptr;
        }
        std::memcpy(out, text.c_str(), text.size() + 1);
        *outLength = text.size();
        return out;
    } catch (const std::exception &e) {
        report(error, e.what());
        return nullptr;
    }
}
