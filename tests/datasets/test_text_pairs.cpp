#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "datasets/data_root.h"
#include "datasets/sentence_pairs.h"
#include "temp_directory.h"

using namespace focus::data;
using focus::testing::TempDirectory;
using Tokens = std::vector<std::string>;

namespace {

// Ten lines in the manythings.org format: three malformed (3, 6, 9), one with an
// attribution column (7), French punctuation after narrow no-break spaces (4, 5).
const std::string kTenLines =
    "Go.\tVa !\n"                                                   // 1
    "Hi.\tSalut !\n"                                                // 2
    "no tab on this line\n"                                         // 3: no tab
    "Run!\tCours\u202F!\n"                                          // 4
    "Run!\tCourez\u202F!\n"                                         // 5
    "\tVide.\n"                                                     // 6: empty English side
    "Who?\tQui ?\tCC-BY 2.0 (France) Attribution: tatoeba.org #2083030 (CK) & #4366796 (gillux)\n"  // 7
    "I think I'm fine, thanks.\tJe crois que je vais bien, merci.\n"  // 8
    "Nothing there.\t \u00A0 \n"                                    // 9: empty French side
    "Wow!\tÇa alors\u202F!\n";                                      // 10

std::string write_file(const TempDirectory& dir, const std::string& name, const std::string& contents) {
  const auto path = (dir / name).string();
  std::ofstream out(path, std::ios::binary);
  out << contents;
  return path;
}

std::vector<int64_t> lines_of(const std::vector<TextPair>& pairs) {
  std::vector<int64_t> lines;
  for (const TextPair& pair : pairs) lines.push_back(pair.line);
  return lines;
}

// 300 pairs with 200 distinct sources: every other source has a second translation.
std::string many_pairs() {
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text += fmt::format("sentence {}.\tphrase {} .\n", i, i);
    if (i % 2 == 0) text += fmt::format("sentence {}.\tune autre phrase {} .\n", i, i);
  }
  return text;
}

}  // namespace

TEST_CASE("SentencePairs reads pairs and reports malformed lines with their numbers", "[text][pairs]") {
  TempDirectory dir("focus-pairs");
  const std::string path = write_file(dir, "ten.tsv", kTenLines);
  const SentencePairs pairs(path);

  REQUIRE(lines_of(pairs.pairs()) == std::vector<int64_t>{1, 2, 4, 5, 7, 8, 10});
  const SentencePairsReport& report = pairs.report();
  REQUIRE(report.lines_read == 10);
  REQUIRE(report.kept == 7);
  REQUIRE(report.malformed == 3);
  REQUIRE(report.too_long == 0);
  REQUIRE(report.first_malformed.size() == 3);
  REQUIRE(report.first_malformed[0].line == 3);
  REQUIRE(report.first_malformed[0].reason == "no tab");
  REQUIRE(report.first_malformed[1].line == 6);
  REQUIRE(report.first_malformed[1].reason == "empty English side");
  REQUIRE(report.first_malformed[2].line == 9);
  REQUIRE(report.first_malformed[2].reason == "empty French side");
  REQUIRE(report.to_string() == path + ": 10 lines read, 7 pairs kept, 3 malformed (line 3: no tab; line 6: "
                                       "empty English side; line 9: empty French side)");

  const TextPair& first = pairs.pairs()[0];
  REQUIRE(first.source == "Go.");
  REQUIRE(first.target == "Va !");
  REQUIRE(first.source_tokens == Tokens{"go", "."});
  REQUIRE(first.target_tokens == Tokens{"va", "!"});
  // The attribution column is ignored; the narrow no-break space is a space.
  REQUIRE(pairs.pairs()[4].target == "Qui ?");
  REQUIRE(pairs.pairs()[2].target_tokens == Tokens{"cours", "!"});
  REQUIRE(pairs.pairs()[6].target_tokens == Tokens{"ça", "alors", "!"});
  REQUIRE(pairs.target_tokenizer().detokenize(pairs.pairs()[6].target_tokens) == "ça alors !");
}

TEST_CASE("SentencePairs lists at most five malformed lines but counts them all", "[text][pairs]") {
  TempDirectory dir("focus-pairs");
  std::string text = "ok\td'accord\n";
  for (int i = 0; i < 7; ++i) text += "broken\n";
  text += "a\tb\tc\td\n\n";
  const SentencePairs pairs(write_file(dir, "bad.tsv", text));
  REQUIRE(pairs.size() == 1);
  REQUIRE(pairs.report().malformed == 9);
  REQUIRE(pairs.report().first_malformed.size() == 5);
  REQUIRE(pairs.report().first_malformed.back().line == 6);
  REQUIRE_THAT(pairs.report().to_string(), Catch::Contains("9 malformed") && Catch::Contains("; ...)"));

  const SentencePairs columns(write_file(dir, "columns.tsv", "a\tb\tc\td\n\n"));
  REQUIRE(columns.report().first_malformed[0].reason == "4 tab-separated columns, expected 2 or 3");
  REQUIRE(columns.report().first_malformed[1].reason == "empty line");
}

TEST_CASE("SentencePairs reports invalid UTF-8 and reads CRLF files and a BOM", "[text][pairs]") {
  TempDirectory dir("focus-pairs");
  const SentencePairs pairs(write_file(dir, "crlf.tsv", "\xEF\xBB\xBFGo.\tVa !\r\nCaf\xC3\tx\r\nHi.\tSalut !\r\n"));
  REQUIRE(pairs.size() == 2);
  REQUIRE(pairs.pairs()[0].source == "Go.");
  REQUIRE(pairs.pairs()[1].target == "Salut !");
  REQUIRE(pairs.report().first_malformed.at(0).line == 2);
  REQUIRE(pairs.report().first_malformed.at(0).reason == "invalid UTF-8");
}

TEST_CASE("SentencePairs reverse translates French to English", "[text][pairs]") {
  TempDirectory dir("focus-pairs");
  SentencePairsOptions options;
  options.reverse = true;
  const SentencePairs pairs(write_file(dir, "ten.tsv", kTenLines), options);
  REQUIRE(pairs.size() == 7);
  REQUIRE(pairs.pairs()[0].source == "Va !");
  REQUIRE(pairs.pairs()[0].target == "Go.");
  REQUIRE(pairs.pairs()[0].source_tokens == Tokens{"va", "!"});
  REQUIRE(pairs.pairs()[0].target_tokens == Tokens{"go", "."});
  // The French tokenizer (French spacing) now reads the source side.
  REQUIRE(pairs.source_tokenizer().detokenize({"qui", "?"}) == "qui ?");
  REQUIRE(pairs.target_tokenizer().detokenize({"who", "?"}) == "who?");
}

TEST_CASE("SentencePairs max_length and max_pairs filter and say so", "[text][pairs]") {
  TempDirectory dir("focus-pairs");
  const std::string path = write_file(dir, "ten.tsv", kTenLines);

  SentencePairsOptions short_only;
  short_only.max_length = 3;  // line 8 has 7 English and 8 French tokens; line 10 has exactly 3
  const SentencePairs filtered(path, short_only);
  REQUIRE(lines_of(filtered.pairs()) == std::vector<int64_t>{1, 2, 4, 5, 7, 10});
  REQUIRE(filtered.report().too_long == 1);
  REQUIRE(filtered.report().lines_read ==
          filtered.report().kept + filtered.report().malformed + filtered.report().too_long);
  REQUIRE_THAT(filtered.report().to_string(), Catch::Contains("1 over the length limit"));

  SentencePairsOptions first_three;
  first_three.max_pairs = 3;
  const SentencePairs limited(path, first_three);
  REQUIRE(lines_of(limited.pairs()) == std::vector<int64_t>{1, 2, 4});
  REQUIRE(limited.report().lines_read == 4);
  REQUIRE(limited.report().stopped_at_max_pairs);
  REQUIRE_THAT(limited.report().to_string(), Catch::Contains("stopped after line 4 (max_pairs reached)"));

  SentencePairsOptions all;
  all.max_pairs = 7;  // exactly the number of pairs: reaching the end is not "stopping"
  REQUIRE_FALSE(SentencePairs(path, all).report().stopped_at_max_pairs);
}

TEST_CASE("SentencePairs names a missing file", "[text][pairs]") {
  REQUIRE_THROWS_WITH(SentencePairs("/no/such/dir/pairs.tsv"),
                      Catch::Contains("cannot open") && Catch::Contains("/no/such/dir/pairs.tsv"));
}

TEST_CASE("SentencePairs split is deterministic, disjoint and keeps sources together", "[text][pairs]") {
  TempDirectory dir("focus-pairs");
  const SentencePairs pairs(write_file(dir, "many.tsv", many_pairs()));
  REQUIRE(pairs.size() == 300);

  const PairSplit split = pairs.split({0.8, 0.1, 0.1}, 7);
  const PairSplit again = pairs.split({0.8, 0.1, 0.1}, 7);
  const PairSplit other = pairs.split({0.8, 0.1, 0.1}, 8);
  REQUIRE(lines_of(split.train) == lines_of(again.train));
  REQUIRE(lines_of(split.validation) == lines_of(again.validation));
  REQUIRE(lines_of(split.test) == lines_of(again.test));
  REQUIRE(lines_of(split.test) != lines_of(other.test));

  // Every line exactly once, over the three parts.
  std::vector<int64_t> all = lines_of(split.train);
  for (int64_t line : lines_of(split.validation)) all.push_back(line);
  for (int64_t line : lines_of(split.test)) all.push_back(line);
  std::sort(all.begin(), all.end());
  REQUIRE(all == lines_of(pairs.pairs()));

  // Fractions apply to the 200 distinct sources; no source is in two parts.
  auto sources = [](const std::vector<TextPair>& part) {
    std::set<std::string> set;
    for (const TextPair& pair : part) set.insert(pair.source);
    return set;
  };
  const auto train_sources = sources(split.train);
  const auto validation_sources = sources(split.validation);
  const auto test_sources = sources(split.test);
  REQUIRE(train_sources.size() == 160);
  REQUIRE(validation_sources.size() == 20);
  REQUIRE(test_sources.size() == 20);
  for (const std::string& source : test_sources) {
    REQUIRE(train_sources.count(source) == 0);
    REQUIRE(validation_sources.count(source) == 0);
  }
  for (const std::string& source : validation_sources) REQUIRE(train_sources.count(source) == 0);

  REQUIRE_THROWS_WITH(pairs.split({0.8, 0.3, 0.1}, 1), Catch::Contains("sum to 1"));
  REQUIRE_THROWS_WITH(pairs.split({1.2, -0.1, -0.1}, 1), Catch::Contains(">= 0"));
}

TEST_CASE("EncodedPairs encodes with the training vocabularies", "[text][pairs]") {
  TempDirectory dir("focus-pairs");
  const SentencePairs pairs(write_file(dir, "ten.tsv", kTenLines));
  std::vector<TextPair> train(pairs.pairs().begin(), pairs.pairs().begin() + 4);  // Go Hi Run Run
  std::vector<TextPair> held_out(pairs.pairs().begin() + 4, pairs.pairs().end());  // Who I-think Wow

  const Vocab source_vocab = Vocab::build(source_token_lists(train));
  const Vocab target_vocab = Vocab::build(target_token_lists(train));
  // English train tokens: "run" 2, "!" 2, "." 2, "go" 1, "hi" 1.
  REQUIRE(source_vocab.tokens() == Tokens{"<pad>", "<sos>", "<eos>", "<unk>", "!", ".", "run", "go", "hi"});

  const EncodedPairs train_set(train, source_vocab, target_vocab);
  REQUIRE(train_set.size() == 4);
  const SentencePair go = train_set.get(0);
  REQUIRE(go.source == std::vector<int64_t>{7, 5});
  REQUIRE(go.target == target_vocab.encode({"va", "!"}));
  REQUIRE(go.source_text == "Go.");
  REQUIRE(go.target_text == "Va !");
  REQUIRE(train_set.source_unknowns() == 0);
  REQUIRE(train_set.source_lengths() == std::vector<int64_t>{2, 2, 2, 2});

  const EncodedPairs held_out_set(held_out, source_vocab, target_vocab);
  // "who" "?" | "i" "think" "i'm" "fine" "," "thanks" "." | "wow" "!": all but "." and "!"
  // are unknown, 9 of 11.
  REQUIRE(held_out_set.source_tokens() == 11);
  REQUIRE(held_out_set.source_unknowns() == 9);
  REQUIRE(held_out_set.get(2).source == std::vector<int64_t>{Vocab::kUnk, 4});
  REQUIRE_THROWS_WITH(held_out_set.get(3), Catch::Contains("index 3 is outside [0, 3)"));
}

TEST_CASE("SentencePairs reads the real eng-fra.tsv", "[text][pairs][data]") {
  if (!has_data_root()) {
    WARN("FOCUS_DATA is not set: skipping the eng-fra.tsv check");
    return;
  }
  const auto path = (data_root() / "translation" / "eng-fra.tsv").string();
  const SentencePairs pairs(path);
  INFO(pairs.report().to_string());
  REQUIRE(pairs.report().lines_read == 167130);
  REQUIRE(pairs.report().malformed == 0);
  REQUIRE(pairs.size() == 167130);
  REQUIRE(pairs.pairs()[0].source == "Go.");
  REQUIRE(pairs.pairs()[0].target == "Va !");
  // Line 4 writes its French with a narrow no-break space before the "!".
  REQUIRE(pairs.pairs()[3].source == "Run!");
  REQUIRE(pairs.pairs()[3].target == "Courez\u202F!");
  REQUIRE(pairs.pairs()[3].target_tokens == Tokens{"courez", "!"});

  SentencePairsOptions options;
  options.max_length = 10;
  options.reverse = true;
  const SentencePairs short_pairs(path, options);
  REQUIRE(short_pairs.report().kept + short_pairs.report().too_long == 167130);
  REQUIRE(short_pairs.pairs()[0].source == "Va !");

  const PairSplit split = short_pairs.split({0.8, 0.1, 0.1}, 1);
  const auto total = static_cast<double>(short_pairs.size());
  REQUIRE(split.train.size() + split.validation.size() + split.test.size() == short_pairs.pairs().size());
  // Several translations per source make part sizes only roughly proportional.
  REQUIRE(static_cast<double>(split.test.size()) / total == Approx(0.1).margin(0.02));
}
