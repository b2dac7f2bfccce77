#pragma once
// The largest things the translator accepts, stated in one place: the model a checkpoint's
// metadata may describe (checked, with the tensor shapes of the file, before anything is
// allocated), the data options it may carry, the input `translate run` reads, and the attention
// pictures it draws. `translate --help` prints them (limits_help()).
#include <cstdint>
#include <string>

namespace translate::limits {

// ---- the model (training flags and checkpoint metadata alike: what train builds, run loads) ----
/// --embed and --hidden: 65,536 (one recurrent weight is then 4·65,536² floats, 64 GiB).
inline constexpr int64_t kMaxWidth = 65536;
/// --layers.
inline constexpr int64_t kMaxLayers = 64;
/// Tokens per vocabulary, the four specials included.
inline constexpr int64_t kMaxVocab = 10'000'000;
/// Parameters in all: 4e9 floats are 16 GB of weights (training with Adam holds three times that).
inline constexpr int64_t kMaxParameters = 4'000'000'000;

// ---- the data options (--max-len, --date-examples; data.* in the metadata) ----
/// Tokens per sentence (--max-len): also the most a model reads of a typed sentence.
inline constexpr int64_t kMaxSentenceTokens = 1000;
/// Generated dates per split (the date task holds them all in memory, about 200 bytes each).
inline constexpr int64_t kMaxDateExamples = 1'000'000;

// ---- what `translate run` reads and draws ----
/// Bytes per input line: a longer line is refused (reported with its number and length, then the
/// next line is read), without ever holding more than this much of it. Lines within the limit but
/// over the model's sentence length are truncated to the tokens the model reads, with a note.
inline constexpr int64_t kMaxInputBytes = 4096;
/// Rows (output tokens) and columns (source tokens) an attention picture draws: 100 cells of 36
/// pixels, under 4,000 pixels a side with the labels (a second or two to write); a larger alignment
/// is drawn in part, and its title says so.
inline constexpr int64_t kMaxPictureTokens = 100;
/// Beam width (--beam): wider beams cost time in proportion and stopped helping long before.
inline constexpr int64_t kMaxBeam = 100;
/// Characters of the sentence pair in a picture's title (longer ones end in "...").
inline constexpr int64_t kMaxTitleCharacters = 120;
/// Characters of one token's label in a picture.
inline constexpr int64_t kMaxLabelCharacters = 24;

/// The limits above as a few lines for --help.
std::string limits_help();

}  // namespace translate::limits
