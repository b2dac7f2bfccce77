#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "datasets/data_root.h"
#include "datasets/tokenizer.h"

using namespace focus::data;
using Tokens = std::vector<std::string>;

namespace {

// U+202F narrow no-break space and U+00A0 no-break space, as French text puts them before ? ! :
const std::string kNarrowNbsp = "\u202F";
const std::string kNbsp = "\u00A0";

Tokenizer word_tokenizer(bool lowercase = false, bool french_spacing = false) {
  TokenizerOptions options;
  options.lowercase = lowercase;
  options.french_spacing = french_spacing;
  return Tokenizer(options);
}

Tokenizer char_tokenizer(bool lowercase = false) {
  TokenizerOptions options;
  options.mode = TokenizerMode::Char;
  options.lowercase = lowercase;
  return Tokenizer(options);
}

}  // namespace

// ---- UTF-8 --------------------------------------------------------------------------

TEST_CASE("utf8 decodes one- to four-byte sequences and encodes them back", "[text][utf8]") {
  const std::string text = "aé€😀";  // 1, 2, 3 and 4 bytes
  const std::u32string code_points = utf8::decode(text);
  REQUIRE(code_points == std::u32string{U'a', U'\u00E9', U'\u20AC', U'\U0001F600'});
  REQUIRE(utf8::encode(code_points) == text);
  REQUIRE(utf8::length(text) == 4);
  REQUIRE(utf8::is_valid(text));
}

TEST_CASE("utf8 replaces malformed bytes with U+FFFD and reports them invalid", "[text][utf8]") {
  // A truncated é, a stray continuation byte, an overlong '/', a UTF-16 surrogate.
  for (const std::string& bad : {std::string("\xC3"), std::string("a\x80z"), std::string("\xC0\xAF"),
                                std::string("\xED\xA0\x80")}) {
    INFO("bytes: " << bad.size());
    REQUIRE_FALSE(utf8::is_valid(bad));
    const std::u32string decoded = utf8::decode(bad);
    REQUIRE(decoded.find(utf8::kReplacement) != std::u32string::npos);
  }
  REQUIRE(utf8::decode("a\x80z") == std::u32string{U'a', utf8::kReplacement, U'z'});
  // A real U+FFFD in the text is valid.
  REQUIRE(utf8::is_valid("\uFFFD"));
}

TEST_CASE("utf8 lowercases accented capitals of Latin-1 and Latin Extended-A", "[text][utf8]") {
  REQUIRE(utf8::to_lower("ÉCOLE À ÇA ŒUVRE ÎLE ÔTER ÜBER") == "école à ça œuvre île ôter über");
  REQUIRE(utf8::to_upper("école à ça œuvre île ôter über") == "ÉCOLE À ÇA ŒUVRE ÎLE ÔTER ÜBER");
  // The three parity regions of Latin Extended-A, and the odd ones out.
  REQUIRE(utf8::to_lower(U'\u0100') == U'\u0101');  // Ā ā
  REQUIRE(utf8::to_lower(U'\u0141') == U'\u0142');  // Ł ł (odd capitals)
  REQUIRE(utf8::to_lower(U'\u0152') == U'\u0153');  // Œ œ
  REQUIRE(utf8::to_lower(U'\u017D') == U'\u017E');  // Ž ž (odd again)
  REQUIRE(utf8::to_lower(U'\u0178') == U'\u00FF');  // Ÿ ÿ across blocks
  REQUIRE(utf8::to_upper(U'\u00FF') == U'\u0178');
  REQUIRE(utf8::to_lower(U'\u0130') == U'i');        // İ
  REQUIRE(utf8::to_upper(U'\u0131') == U'I');        // ı
  // No one-letter capital, or not a letter: unchanged.
  REQUIRE(utf8::to_upper(U'\u00DF') == U'\u00DF');  // ß
  REQUIRE(utf8::to_lower(U'\u00D7') == U'\u00D7');  // ×
  REQUIRE(utf8::to_upper(U'\u00F7') == U'\u00F7');  // ÷
  REQUIRE(utf8::to_lower(U'\u0138') == U'\u0138');  // ĸ
  REQUIRE(utf8::to_lower("ΣΟΦΙΑ") == "σοφια");
  REQUIRE(utf8::to_lower("СЛОВО") == "слово");
}

TEST_CASE("utf8 case maps are inverse on every cased letter of the covered blocks", "[text][utf8]") {
  int pairs = 0;
  for (char32_t c = 0; c < 0x180; ++c) {
    const char32_t upper = utf8::to_upper(c);
    if (upper == c || c == U'\u0131') continue;  // ı -> I -> i is the one deliberate asymmetry
    INFO("code point " << static_cast<uint32_t>(c));
    REQUIRE(utf8::to_lower(upper) == c);
    ++pairs;
  }
  // 26 ASCII; 31 Latin-1 (à..þ without ÷, and ÿ); Latin Extended-A: 27 even-capital
  // pairs up to U+0137 (İ/ı excluded), 8 odd-capital up to U+0148, 23 even up to
  // U+0177, 3 odd up to U+017E.
  REQUIRE(pairs == 26 + 31 + 27 + 8 + 23 + 3);
}

// ---- word mode ----------------------------------------------------------------------

TEST_CASE("Tokenizer splits French words, elisions and guillemets", "[text][tokenizer]") {
  const Tokenizer tokenizer = word_tokenizer();
  REQUIRE(tokenizer.tokenize("L'homme a mangé « une pomme » !") ==
          Tokens{"L'", "homme", "a", "mangé", "«", "une", "pomme", "»", "!"});
  REQUIRE(tokenizer.tokenize("Où est-ce que tu vas" + kNarrowNbsp + "?") ==
          Tokens{"Où", "est-ce", "que", "tu", "vas", "?"});
  REQUIRE(tokenizer.tokenize("Va" + kNbsp + "!") == Tokens{"Va", "!"});
  REQUIRE(tokenizer.tokenize("Il faut qu'il parte jusqu'à aujourd'hui.") ==
          Tokens{"Il", "faut", "qu'", "il", "parte", "jusqu'", "à", "aujourd'hui", "."});
  REQUIRE(tokenizer.tokenize("C'est l'œuvre d'un maître.") ==
          Tokens{"C'", "est", "l'", "œuvre", "d'", "un", "maître", "."});
}

TEST_CASE("Tokenizer normalises the typographic apostrophe and invisible characters", "[text][tokenizer]") {
  const Tokenizer tokenizer = word_tokenizer();
  REQUIRE(tokenizer.tokenize("J’ai gagné.") == Tokens{"J'", "ai", "gagné", "."});
  REQUIRE(tokenizer.tokenize("J‘aime celui-ci.") == Tokens{"J'", "aime", "celui-ci", "."});
  // Two zero-width spaces, as in one line of the Tatoeba file.
  REQUIRE(tokenizer.tokenize("sur \u200B\u200Bla musique") == Tokens{"sur", "la", "musique"});
  REQUIRE(tokenizer.tokenize("a\tb  c\u2009d") == Tokens{"a", "b", "c", "d"});
}

TEST_CASE("Tokenizer keeps English contractions, numbers and hyphenated words whole", "[text][tokenizer]") {
  const Tokenizer tokenizer = word_tokenizer();
  REQUIRE(tokenizer.tokenize("I don't know, it's 3.5% of $10,000.") ==
          Tokens{"I", "don't", "know", ",", "it's", "3.5", "%", "of", "$", "10,000", "."});
  REQUIRE(tokenizer.tokenize("Well-known rock 'n' roll at 10:30...") ==
          Tokens{"Well-known", "rock", "'", "n", "'", "roll", "at", "10:30", ".", ".", "."});
  REQUIRE(tokenizer.tokenize("") == Tokens{});
  REQUIRE(tokenizer.tokenize(" \u00A0 ") == Tokens{});
}

TEST_CASE("Tokenizer can keep elisions whole", "[text][tokenizer]") {
  TokenizerOptions options;
  options.split_elisions = false;
  REQUIRE(Tokenizer(options).tokenize("L'homme") == Tokens{"L'homme"});
}

TEST_CASE("Tokenizer lowercases accented capitals", "[text][tokenizer]") {
  const Tokenizer tokenizer = word_tokenizer(/*lowercase=*/true);
  REQUIRE(tokenizer.tokenize("ÉTAIT-CE L'ÉTÉ À PARIS ?") == Tokens{"était-ce", "l'", "été", "à", "paris", "?"});
  REQUIRE(tokenizer.tokenize("Ça alors" + kNarrowNbsp + "!") == Tokens{"ça", "alors", "!"});
}

TEST_CASE("Tokenizer detokenizes English without spaces before punctuation", "[text][tokenizer]") {
  const Tokenizer tokenizer = word_tokenizer();
  for (const std::string text : {"Hello, world! (yes) \"Look,\" she said.", "I don't know; it's 50% done: no?",
                                 "Wait... Really?!", "Tom's car [the red one] is fast."}) {
    INFO(text);
    REQUIRE(tokenizer.detokenize(tokenizer.tokenize(text)) == text);
  }
}

TEST_CASE("Tokenizer detokenizes French with elisions and French spacing", "[text][tokenizer]") {
  const Tokenizer french = word_tokenizer(false, /*french_spacing=*/true);
  const std::string apple = "L'homme a mangé « une pomme » !";
  REQUIRE(french.detokenize(french.tokenize(apple)) == apple);
  // The narrow no-break space comes back as a plain space: the normalised text.
  const std::string where = "Où est-ce que tu vas" + kNarrowNbsp + "?";
  REQUIRE(french.detokenize(french.tokenize(where)) == "Où est-ce que tu vas ?");
  REQUIRE(french.detokenize(french.tokenize(where)) == french.normalize(where));
  REQUIRE(french.detokenize({"Il", "dit", ":", "«", "Qu'", "il", "vienne", "»", "."}) ==
          "Il dit : « Qu'il vienne ».");
  // Without French spacing, the same tokens read the English way.
  REQUIRE(word_tokenizer().detokenize(french.tokenize(apple)) == "L'homme a mangé «une pomme»!");
}

TEST_CASE("Tokenizer: tokenize(detokenize(tokens)) gives the tokens back", "[text][tokenizer]") {
  const std::vector<std::string> texts = {
      "L'homme a mangé « une pomme » !",
      "Où est-ce que tu vas" + kNarrowNbsp + "?",
      "\"Look,\" she said. 'Fine' - he said (twice).",
      "Qu'est-ce qu'il y a ? Jusqu'à quand ?",
      "The students' books cost $10,000.50, i.e. 3.5%.",
      "l' homme, d' accord",  // apostrophes that are not elisions here
      "Ç'a été dur… — vraiment ?!",
  };
  for (bool french : {false, true}) {
    for (bool lowercase : {false, true}) {
      const Tokenizer tokenizer = word_tokenizer(lowercase, french);
      for (const std::string& text : texts) {
        INFO(text << " french_spacing=" << french << " lowercase=" << lowercase);
        const Tokens tokens = tokenizer.tokenize(text);
        REQUIRE(tokenizer.tokenize(tokenizer.detokenize(tokens)) == tokens);
      }
    }
  }
}

// ---- char mode ----------------------------------------------------------------------

TEST_CASE("Tokenizer char mode splits into code points", "[text][tokenizer]") {
  const Tokenizer tokenizer = char_tokenizer();
  const Tokens tokens = tokenizer.tokenize("Où  va" + kNarrowNbsp + "?");
  // Spaces collapse to one, the narrow no-break space is a space, é-like letters stay whole.
  REQUIRE(tokens == Tokens{"O", "ù", " ", "v", "a", " ", "?"});
  REQUIRE(tokens[1].size() == 2);  // two UTF-8 bytes, one token
  REQUIRE(tokenizer.detokenize(tokens) == "Où va ?");
  REQUIRE(tokenizer.tokenize("  3 May 1999 ") == Tokens{"3", " ", "M", "a", "y", " ", "1", "9", "9", "9"});
  REQUIRE(char_tokenizer(true).tokenize("ÉTÉ") == Tokens{"é", "t", "é"});
  REQUIRE(tokenizer.tokenize("😀!") == Tokens{"😀", "!"});
}

// ---- real data ------------------------------------------------------------------------

TEST_CASE("Tokenizer round trips every sentence of eng-fra.tsv", "[text][tokenizer][data]") {
  if (!has_data_root()) {
    WARN("FOCUS_DATA is not set: skipping the eng-fra.tsv tokenizer check");
    return;
  }
  const auto path = data_root() / "translation" / "eng-fra.tsv";
  std::ifstream in(path);
  REQUIRE(in.good());
  const Tokenizer english = word_tokenizer(true);
  const Tokenizer french = word_tokenizer(true, true);
  std::string line;
  int64_t lines = 0;
  int64_t replaced = 0;
  while (std::getline(in, line)) {
    ++lines;
    const size_t tab = line.find('\t');
    REQUIRE(tab != std::string::npos);
    const std::string left = line.substr(0, tab);
    const std::string right = line.substr(tab + 1);
    const Tokens english_tokens = english.tokenize(left);
    const Tokens french_tokens = french.tokenize(right);
    if (english.tokenize(english.detokenize(english_tokens)) != english_tokens ||
        french.tokenize(french.detokenize(french_tokens)) != french_tokens) {
      FAIL("line " << lines << " does not round trip: " << line);
    }
    for (const Tokens* tokens : {&english_tokens, &french_tokens}) {
      for (const std::string& token : *tokens) {
        if (token.find("\uFFFD") != std::string::npos) ++replaced;
      }
    }
  }
  REQUIRE(lines == 167130);
  REQUIRE(replaced == 0);  // the file is valid UTF-8: nothing decoded as U+FFFD
}
