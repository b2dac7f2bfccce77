#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace focus::data {

/// A small UTF-8 toolkit: enough to split text into code points, lowercase
/// accented capitals and put the result back together, with no dependency
/// beyond the standard library.
namespace utf8 {

/// The replacement character that stands in for bytes that are not valid UTF-8.
inline constexpr char32_t kReplacement = U'\uFFFD';

/// Decodes UTF-8 into code points. Invalid or truncated sequences, overlong
/// forms and surrogates each become one U+FFFD, so decoding never throws.
std::u32string decode(std::string_view text);

/// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates).
bool is_valid(std::string_view text);

/// Appends the UTF-8 encoding of one code point (U+FFFD for an invalid one).
void append(std::string& out, char32_t code_point);

/// Encodes code points as UTF-8.
std::string encode(std::u32string_view code_points);

/// Simple (one-to-one) lowercase mapping for ASCII, Latin-1 Supplement,
/// Latin Extended-A, basic Greek and basic Cyrillic; other code points are
/// returned unchanged. `É` -> `é`, `Œ` -> `œ`, `Ÿ` -> `ÿ`.
char32_t to_lower(char32_t code_point);

/// The inverse mapping over the same blocks. Letters without a one-letter
/// capital (`ß`, `ŉ`, `ĸ`) are returned unchanged.
char32_t to_upper(char32_t code_point);

/// Lowercases a whole UTF-8 string with `to_lower` per code point.
std::string to_lower(std::string_view text);

/// Uppercases a whole UTF-8 string with `to_upper` per code point.
std::string to_upper(std::string_view text);

/// The number of code points in `text`.
size_t length(std::string_view text);

}  // namespace utf8

/// How text is cut: into words and punctuation, or into single code points.
enum class TokenizerMode { Word, Char };

/// Options of a Tokenizer.
struct TokenizerOptions {
  /// Lowercase every token (accented capitals included).
  bool lowercase = false;
  /// Word: words and punctuation marks. Char: one token per code point.
  TokenizerMode mode = TokenizerMode::Word;
  /// Split French elisions after their apostrophe: `l'homme` -> `l'` `homme`,
  /// `qu'il` -> `qu'` `il`. English contractions (`don't`, `I'm`) stay whole.
  bool split_elisions = true;
  /// detokenize() puts a space before `; : ! ? »` and after `«`, as French
  /// typography does (a plain space: the tokenizer reads it back the same way).
  bool french_spacing = false;
};

/// Splits sentences into tokens and puts tokens back into readable text.
///
/// Before splitting, text is normalised: every Unicode space (tab, U+00A0
/// no-break space, U+202F narrow no-break space used before `? ! : ;` in
/// French, U+2009 thin space, ...) becomes an ASCII space; invisible characters
/// (U+200B zero-width space, U+00AD soft hyphen, U+FEFF byte-order mark) are
/// dropped; the typographic apostrophes `’` and `‘` become `'`.
///
/// Word mode rules:
/// - a word is a run of letters and digits (any script, accents intact);
/// - `-` and `'` between two word characters stay inside the word
///   (`est-ce`, `peut-être`, `don't`, `aujourd'hui`), and so do `.`, `,`,
///   `:` and `/` between two digits (`3.5`, `10,000`, `10:30`, `10/06/03`);
/// - with `split_elisions`, a word made only of a French elision prefix
///   (l d j m n s t c qu jusqu lorsqu puisqu quoiqu, any case) is cut after
///   its apostrophe: `L'homme` -> `L'` `homme`, `jusqu'à` -> `jusqu'` `à`;
/// - every other non-space character (punctuation, `«`, `»`, symbols) is a
///   token of its own.
///
/// Char mode normalises the same way, also collapses runs of spaces into one
/// and trims both ends, then returns one token per code point (spaces included).
class Tokenizer {
 public:
  explicit Tokenizer(TokenizerOptions options = {});

  /// The tokens of `text` (UTF-8).
  std::vector<std::string> tokenize(std::string_view text) const;

  /// Readable text from tokens. Word mode joins with spaces except: none
  /// before `. , ! ? ; : ) ] } % …` and closing quotes, none after `( [ { ¿ ¡`
  /// and opening quotes, none after an elision (`l'` `homme` -> `l'homme`);
  /// straight double quotes alternate between opening and closing. With
  /// `french_spacing`, `; : ! ? »` get a space before and `«` one after.
  /// Char mode concatenates. For tokens that tokenize() produced (same
  /// options), tokenize(detokenize(tokens)) == tokens: spacing never glues
  /// tokens into one word or splits one apart.
  std::string detokenize(const std::vector<std::string>& tokens) const;

  /// The normalised text the tokenizer splits (spaces, apostrophes, optional
  /// lowercasing; no splitting).
  std::string normalize(std::string_view text) const;

  const TokenizerOptions& options() const { return options_; }

 private:
  std::vector<std::string> tokenize_words(const std::u32string& text) const;

  TokenizerOptions options_;
};

}  // namespace focus::data
