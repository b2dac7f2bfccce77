#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "datasets/bleu.h"

using namespace focus::data;
using Tokens = std::vector<std::string>;
using Corpus = std::vector<Tokens>;

namespace {

Tokens words(const std::string& text) {
  std::istringstream in(text);
  Tokens out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

const Tokens kFoxReference = words("the quick brown fox jumps over the lazy dog");
const Tokens kFoxCandidate = words("the quick brown fox jumped over the lazy dog");

}  // namespace

TEST_CASE("BLEU of a perfect match is 100", "[text][bleu]") {
  const Tokens sentence = words("the cat is on the mat");
  const BleuScore bleu = corpus_bleu(Corpus{sentence}, Corpus{sentence});
  REQUIRE(bleu.score == Approx(100.0));
  for (double p : bleu.precisions) REQUIRE(p == Approx(1.0));
  REQUIRE(bleu.brevity_penalty == 1.0);
  REQUIRE(bleu.candidate_length == 6);
  REQUIRE(bleu.reference_length == 6);
  REQUIRE(bleu.totals == std::array<int64_t, 4>{6, 5, 4, 3});
}

TEST_CASE("BLEU of a partial match, computed by hand", "[text][bleu]") {
  // Candidate "the quick brown fox jumped over the lazy dog" against
  // reference "the quick brown fox jumps  over the lazy dog" (9 tokens each):
  //   1-grams: all but "jumped"                                        8/9
  //   2-grams: lose "fox jumped", "jumped over"                        6/8
  //   3-grams: lose "brown fox jumped", "fox jumped over", "jumped over the"   4/7
  //   4-grams: keep only "the quick brown fox", "over the lazy dog"    2/6
  //   BP = 1 (same length); BLEU = 100 * (8/9 * 6/8 * 4/7 * 2/6)^(1/4)
  //      = 100 * (384 / 3024)^(1/4) = 100 * 0.126984^(1/4) = 59.695
  const BleuScore bleu = corpus_bleu(Corpus{kFoxCandidate}, Corpus{kFoxReference});
  REQUIRE(bleu.matches == std::array<int64_t, 4>{8, 6, 4, 2});
  REQUIRE(bleu.totals == std::array<int64_t, 4>{9, 8, 7, 6});
  REQUIRE(bleu.precisions[0] == Approx(8.0 / 9.0));
  REQUIRE(bleu.precisions[3] == Approx(2.0 / 6.0));
  REQUIRE(bleu.brevity_penalty == 1.0);
  REQUIRE(bleu.score == Approx(59.695).epsilon(1e-4));
  REQUIRE(bleu.score == Approx(100.0 * std::pow(384.0 / 3024.0, 0.25)));
  REQUIRE(bleu.to_string() == "BLEU = 59.69 88.9/75.0/57.1/33.3 (BP = 1.000 ratio = 1.000 hyp_len = 9 ref_len = 9)");
}

TEST_CASE("BLEU clips repeated n-grams to their count in the reference", "[text][bleu]") {
  // Papineni et al.'s example: "the" x7 earns only the reference's two "the".
  const BleuScore bleu = corpus_bleu(Corpus{words("the the the the the the the")}, Corpus{words("the cat is on the mat")});
  REQUIRE(bleu.matches[0] == 2);
  REQUIRE(bleu.totals[0] == 7);
  REQUIRE(bleu.precisions[0] == Approx(2.0 / 7.0));
  REQUIRE(bleu.matches[1] == 0);  // "the the" never occurs in the reference
  REQUIRE(bleu.score == 0.0);     // unsmoothed: a zero precision zeroes the geometric mean
}

TEST_CASE("BLEU brevity penalty for a short candidate", "[text][bleu]") {
  // "the quick brown fox": every n-gram matches (4/4, 3/3, 2/2, 1/1), but c = 4 < r = 9:
  // BP = exp(1 - 9/4) = exp(-1.25) = 0.2865, so BLEU = 28.65.
  const BleuScore bleu = corpus_bleu(Corpus{words("the quick brown fox")}, Corpus{kFoxReference});
  for (double p : bleu.precisions) REQUIRE(p == Approx(1.0));
  REQUIRE(bleu.brevity_penalty == Approx(std::exp(-1.25)));
  REQUIRE(bleu.score == Approx(28.650).epsilon(1e-4));

  // A longer candidate is not penalised for length (only through precision).
  const BleuScore longer = corpus_bleu(Corpus{words("the cat is on the mat today")}, Corpus{words("the cat is on the mat")});
  REQUIRE(longer.brevity_penalty == 1.0);
}

TEST_CASE("BLEU with no match is 0", "[text][bleu]") {
  const BleuScore bleu = corpus_bleu(Corpus{words("a b c d")}, Corpus{words("w x y z")});
  REQUIRE(bleu.score == 0.0);
  REQUIRE(bleu.matches == std::array<int64_t, 4>{0, 0, 0, 0});
  REQUIRE(bleu.precisions == std::array<double, 4>{0, 0, 0, 0});
  REQUIRE(bleu.brevity_penalty == 1.0);

  const BleuScore empty = corpus_bleu(Corpus{}, Corpus{});
  REQUIRE(empty.score == 0.0);
  const BleuScore nothing_said = corpus_bleu(Corpus{Tokens{}}, Corpus{words("a b")});
  REQUIRE(nothing_said.score == 0.0);
  REQUIRE(nothing_said.brevity_penalty == 0.0);
}

TEST_CASE("Corpus BLEU sums counts over sentences instead of averaging scores", "[text][bleu]") {
  // Sentence 1 "a b c d" matches its reference exactly; sentence 2 "e f" is the first
  // half of "e f g h". Summed: matches = totals = 6, 4, 2, 1, so every precision is 1;
  // c = 6, r = 8: BLEU = 100 * exp(1 - 8/6) = 71.65, while sentence 2 alone scores 0
  // (no 3-grams) and the mean of sentence scores would be 50.
  const BleuScore bleu = corpus_bleu(Corpus{words("a b c d"), words("e f")}, Corpus{words("a b c d"), words("e f g h")});
  REQUIRE(bleu.matches == std::array<int64_t, 4>{6, 4, 2, 1});
  REQUIRE(bleu.totals == std::array<int64_t, 4>{6, 4, 2, 1});
  REQUIRE(bleu.candidate_length == 6);
  REQUIRE(bleu.reference_length == 8);
  REQUIRE(bleu.score == Approx(71.653).epsilon(1e-4));
  REQUIRE(corpus_bleu(Corpus{words("e f")}, Corpus{words("e f g h")}).score == 0.0);
}

TEST_CASE("Smoothed sentence BLEU follows sacrebleu's exp smoothing", "[text][bleu]") {
  // "a b c d e" against "a b x d e": 1-grams 4/5, 2-grams 2/4 ("a b", "d e"), no 3- or
  // 4-gram match. Smoothing gives the k-th empty order 1 / (2^k * total):
  // 3-grams 1/(2*3) = 1/6, 4-grams 1/(4*2) = 1/8. BLEU = 100 * (4/5 * 2/4 * 1/6 * 1/8)^(1/4)
  // = 100 * (1/120)^(1/4) = 30.21.
  const Tokens candidate = words("a b c d e");
  const Tokens reference = words("a b x d e");
  const BleuScore smoothed = sentence_bleu(candidate, reference);
  REQUIRE(smoothed.precisions[2] == Approx(1.0 / 6.0));
  REQUIRE(smoothed.precisions[3] == Approx(1.0 / 8.0));
  REQUIRE(smoothed.score == Approx(30.213).epsilon(1e-4));
  REQUIRE(sentence_bleu(candidate, reference, {.smooth = false}).score == 0.0);

  // Effective order: "the cat sat" has no 4-gram, so the mean runs over three orders
  // (all 1) and only the brevity penalty remains: 100 * exp(1 - 4/3) = 71.65.
  const BleuScore short_one = sentence_bleu(words("the cat sat"), words("the cat sat down"));
  REQUIRE(short_one.score == Approx(71.653).epsilon(1e-4));
  REQUIRE(sentence_bleu(words("the cat sat"), words("the cat sat down"), {.smooth = false}).score == 0.0);
}

TEST_CASE("BLEU on token ids equals BLEU on the tokens", "[text][bleu]") {
  std::map<std::string, int64_t> ids;
  auto encode = [&](const Tokens& tokens) {
    std::vector<int64_t> out;
    for (const std::string& token : tokens) out.push_back(ids.emplace(token, static_cast<int64_t>(ids.size())).first->second);
    return out;
  };
  const auto candidate = encode(kFoxCandidate);
  const auto reference = encode(kFoxReference);
  const BleuScore on_ids = corpus_bleu(std::vector<std::vector<int64_t>>{candidate}, std::vector<std::vector<int64_t>>{reference});
  const BleuScore on_tokens = corpus_bleu(Corpus{kFoxCandidate}, Corpus{kFoxReference});
  REQUIRE(on_ids.score == on_tokens.score);
  REQUIRE(on_ids.matches == on_tokens.matches);
}

TEST_CASE("BLEU rejects mismatched corpora", "[text][bleu]") {
  REQUIRE_THROWS_WITH(corpus_bleu(Corpus{words("a")}, Corpus{}), Catch::Contains("corpus_bleu: 1 candidates but 0 references"));
}

TEST_CASE("bleu_from_counts scores a corpus from the summed statistics of its parts", "[bleu]") {
  // A corpus cut in two (as the ranks of a data-parallel evaluation cut it): the parts' matches,
  // totals and lengths add up to the whole corpus's, and so does the score.
  const Corpus candidates{{"the", "cat", "sat", "on", "the", "mat"},
                          {"a", "dog", "ran", "in", "the", "park", "today"},
                          {"it", "is", "raining", "again"},
                          {"we", "are", "going", "home", "now"}};
  const Corpus references{{"the", "cat", "sat", "on", "the", "mat"},
                          {"the", "dog", "ran", "in", "the", "park"},
                          {"it", "rains", "again"},
                          {"we", "go", "home", "now", "then"}};
  const BleuScore whole = corpus_bleu(candidates, references);
  const BleuScore first = corpus_bleu(Corpus(candidates.begin(), candidates.begin() + 2),
                                      Corpus(references.begin(), references.begin() + 2));
  const BleuScore second = corpus_bleu(Corpus(candidates.begin() + 2, candidates.end()),
                                       Corpus(references.begin() + 2, references.end()));
  BleuScore summed;
  for (size_t n = 0; n < 4; ++n) {
    summed.matches[n] = first.matches[n] + second.matches[n];
    summed.totals[n] = first.totals[n] + second.totals[n];
  }
  summed.candidate_length = first.candidate_length + second.candidate_length;
  summed.reference_length = first.reference_length + second.reference_length;
  const BleuScore scored = bleu_from_counts(summed);
  REQUIRE(whole.score > 0);
  CHECK(scored.score == Approx(whole.score).epsilon(1e-12));
  CHECK(scored.brevity_penalty == Approx(whole.brevity_penalty).epsilon(1e-12));
  for (size_t n = 0; n < 4; ++n) CHECK(scored.precisions[n] == Approx(whole.precisions[n]).epsilon(1e-12));
  CHECK(scored.score != Approx((first.score + second.score) / 2));  // averaging the parts' scores is not BLEU
}
