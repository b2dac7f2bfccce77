#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "datasets/vocab.h"
#include "temp_directory.h"

using namespace focus::data;
using focus::testing::TempDirectory;
using Tokens = std::vector<std::string>;

namespace {

// Counts: a 3, b 2, c 1, d 1; "<unk>" in the data must not be counted.
const std::vector<Tokens> kSentences = {{"a", "b", "a"}, {"c", "a", "b"}, {"d", "<unk>"}};

using focus::testing::read_file;
using focus::testing::write_file;

}  // namespace

TEST_CASE("Vocab starts with the four special tokens at fixed ids", "[text][vocab]") {
  const Vocab vocab;
  REQUIRE(vocab.size() == 4);
  REQUIRE(vocab.tokens() == Tokens{"<pad>", "<sos>", "<eos>", "<unk>"});
  REQUIRE(vocab.id("<pad>") == 0);
  REQUIRE(vocab.id("<sos>") == 1);
  REQUIRE(vocab.id("<eos>") == 2);
  REQUIRE(vocab.id("<unk>") == 3);
  REQUIRE(Vocab::kPad == 0);
  REQUIRE(Vocab::kSos == 1);
  REQUIRE(Vocab::kEos == 2);
  REQUIRE(Vocab::kUnk == 3);
  REQUIRE(vocab.id("anything") == Vocab::kUnk);
}

TEST_CASE("Vocab orders by frequency, then by token", "[text][vocab]") {
  const Vocab vocab = Vocab::build(kSentences);
  REQUIRE(vocab.tokens() == Tokens{"<pad>", "<sos>", "<eos>", "<unk>", "a", "b", "c", "d"});
  // Ties are broken by byte order, whatever order the data shows them in.
  REQUIRE(Vocab::build({{"zèbre", "yak", "éléphant", "ant"}}).tokens() ==
          Tokens{"<pad>", "<sos>", "<eos>", "<unk>", "ant", "yak", "zèbre", "éléphant"});
  REQUIRE(Vocab::build({{"y", "x"}}) == Vocab::build({{"x", "y"}}));
}

TEST_CASE("Vocab min_freq and max_size drop rare tokens", "[text][vocab]") {
  REQUIRE(Vocab::build(kSentences, {.min_freq = 2}).tokens() == Tokens{"<pad>", "<sos>", "<eos>", "<unk>", "a", "b"});
  REQUIRE(Vocab::build(kSentences, {.min_freq = 3}).tokens() == Tokens{"<pad>", "<sos>", "<eos>", "<unk>", "a"});
  // max_size counts the specials.
  REQUIRE(Vocab::build(kSentences, {.max_size = 6}).tokens() == Tokens{"<pad>", "<sos>", "<eos>", "<unk>", "a", "b"});
  REQUIRE(Vocab::build(kSentences, {.max_size = 4}).size() == 4);
  REQUIRE(Vocab::build(kSentences, {.max_size = 100}).size() == 8);
  REQUIRE_THROWS_WITH(Vocab::build(kSentences, {.max_size = 3}), Catch::Contains("max_size 3"));
  REQUIRE_THROWS_WITH(Vocab::build(kSentences, {.min_freq = 0}), Catch::Contains("min_freq"));
}

TEST_CASE("Vocab encodes unknown tokens as <unk> and counts them", "[text][vocab]") {
  const Vocab vocab = Vocab::build(kSentences, {.min_freq = 2});  // a = 4, b = 5
  int64_t unknowns = 0;
  REQUIRE(vocab.encode({"a", "c", "b", "zz"}, false, false, &unknowns) == std::vector<int64_t>{4, 3, 5, 3});
  REQUIRE(unknowns == 2);
  REQUIRE(vocab.encode({"b"}, true, true, &unknowns) == std::vector<int64_t>{1, 5, 2});
  REQUIRE(unknowns == 2);  // the counter accumulates across calls
  REQUIRE(vocab.encode({}) == std::vector<int64_t>{});
}

TEST_CASE("Vocab decodes, stopping at <eos> and skipping <pad>/<sos>", "[text][vocab]") {
  const Vocab vocab = Vocab::build(kSentences);
  const std::vector<int64_t> ids = {1, 4, 5, 3, 2, 6, 0, 0};
  REQUIRE(vocab.decode(ids) == Tokens{"a", "b", "<unk>"});
  REQUIRE(vocab.decode(ids, {.stop_at_eos = false}) == Tokens{"a", "b", "<unk>", "c"});
  REQUIRE(vocab.decode(ids, {.stop_at_eos = false, .skip_special = false}) ==
          Tokens{"<sos>", "a", "b", "<unk>", "<eos>", "c", "<pad>", "<pad>"});
  REQUIRE_THROWS_WITH(vocab.decode({4, 8}), Catch::Contains("id 8 is outside [0, 8)"));
  REQUIRE_THROWS_WITH(vocab.token(-1), Catch::Contains("id -1"));
}

TEST_CASE("Vocab::from_tokens keeps the given order and rejects duplicates", "[text][vocab]") {
  const Vocab vocab = Vocab::from_tokens({"9", "0", " "});
  REQUIRE(vocab.tokens() == Tokens{"<pad>", "<sos>", "<eos>", "<unk>", "9", "0", " "});
  REQUIRE_THROWS_WITH(Vocab::from_tokens({"a", "a"}), Catch::Contains("'a' appears twice"));
  REQUIRE_THROWS(Vocab::from_tokens({"<eos>"}));
}

TEST_CASE("Vocab save and load round trip UTF-8 tokens", "[text][vocab]") {
  TempDirectory dir("focus-vocab");
  const auto path = (dir / "vocab.txt").string();
  const Vocab vocab = Vocab::build({{"été", "œuvre", " ", "l'", "été", "«"}});
  vocab.save(path);
  // One token per line, line n = id n - 1; nothing else in the folder (the temp file was renamed).
  REQUIRE(read_file(path) == "<pad>\n<sos>\n<eos>\n<unk>\nété\n \nl'\n«\nœuvre\n");
  REQUIRE(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);
  const Vocab loaded = Vocab::load(path);
  REQUIRE(loaded == vocab);
  REQUIRE(loaded.id("œuvre") == vocab.id("œuvre"));

  // Saving again replaces the file as a whole.
  Vocab().save(path);
  REQUIRE(Vocab::load(path).size() == 4);
}

TEST_CASE("Vocab load errors name the file and the line", "[text][vocab]") {
  TempDirectory dir("focus-vocab");
  const auto path = (dir / "bad.txt").string();
  const std::string specials = "<pad>\n<sos>\n<eos>\n<unk>\n";

  write_file(path, specials + "a\nb\n\nc\n");
  REQUIRE_THROWS_WITH(Vocab::load(path), Catch::Contains(path) && Catch::Contains("line 7: empty line"));

  write_file(path, specials + "a\nb\na\n");
  REQUIRE_THROWS_WITH(Vocab::load(path), Catch::Contains("line 7: token \"a\" already appeared on line 5"));

  write_file(path, "<pad>\n<eos>\n<sos>\n<unk>\n");
  REQUIRE_THROWS_WITH(Vocab::load(path), Catch::Contains("line 2: expected special token '<sos>'"));

  write_file(path, specials + "caf\xC3\n");
  REQUIRE_THROWS_WITH(Vocab::load(path), Catch::Contains("line 5: invalid UTF-8"));

  write_file(path, "<pad>\n<sos>\n");
  REQUIRE_THROWS_WITH(Vocab::load(path), Catch::Contains(path) && Catch::Contains("2 lines"));

  const auto missing = (dir / "missing.txt").string();
  REQUIRE_THROWS_WITH(Vocab::load(missing), Catch::Contains("cannot open") && Catch::Contains(missing));

  // CRLF line endings (a file edited on Windows) still load.
  write_file(path, "<pad>\r\n<sos>\r\n<eos>\r\n<unk>\r\nx\r\n");
  REQUIRE(Vocab::load(path).tokens().back() == "x");
  // A carriage return inside a token is refused (save() could not write it, and no tokenizer makes
  // it: it would become <unk>), and shown escaped rather than moving the cursor.
  write_file(path, specials + "ab\rcd\n");
  REQUIRE_THROWS_WITH(Vocab::load(path), Catch::Contains("line 5: token \"ab\\rcd\" contains a carriage return"));
  write_file(path, specials + "x\r\r\n");
  REQUIRE_THROWS_WITH(Vocab::load(path), Catch::Contains("line 5: token \"x\\r\" contains a carriage return"));
}

TEST_CASE("Vocab save refuses tokens that cannot be one per line", "[text][vocab]") {
  TempDirectory dir("focus-vocab");
  const auto path = (dir / "vocab.txt").string();
  const Vocab vocab = Vocab::from_tokens({"ok", "two\nlines"});
  REQUIRE_THROWS_WITH(vocab.save(path), Catch::Contains("token 5 contains a line break"));
  REQUIRE_FALSE(std::filesystem::exists(path));
  REQUIRE_THROWS_WITH(Vocab().save((dir / "no-such-dir" / "v.txt").string()), Catch::Contains("cannot open"));
}
