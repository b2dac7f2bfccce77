#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace focus::data {

/// Corpus BLEU and its parts.
struct BleuScore {
  double score = 0.0;                     ///< 0..100
  std::array<double, 4> precisions{};     ///< clipped n-gram precision, n = 1..4, as fractions 0..1
  std::array<int64_t, 4> matches{};       ///< clipped n-gram matches, summed over the corpus
  std::array<int64_t, 4> totals{};        ///< candidate n-grams, summed over the corpus
  double brevity_penalty = 0.0;           ///< exp(1 - r / c) when c < r, else 1
  int64_t candidate_length = 0;           ///< c: candidate tokens over the corpus
  int64_t reference_length = 0;           ///< r: reference tokens over the corpus

  /// "BLEU = 59.69 88.9/75.0/57.1/33.3 (BP = 1.000 ratio = 1.000 hyp_len = 9 ref_len = 9)",
  /// the layout sacrebleu prints.
  std::string to_string() const;
};

/// Options of corpus_bleu / sentence_bleu.
struct BleuOptions {
  /// Off: the standard corpus BLEU of Papineni et al. (2002), as sacrebleu
  /// computes it — any n-gram order with no match gives 0.
  /// On: sacrebleu's "exp" smoothing for sentence-level scores — the k-th order
  /// with no match counts as precision 1 / (2^k * totals[n]) — and orders the
  /// candidate is too short to have are left out of the mean ("effective order").
  bool smooth = false;
};

/// Corpus-level BLEU-4 of `candidates` against one reference each (same count):
/// clipped n-gram matches and totals are summed over the corpus, precisions
/// p_n = matches_n / totals_n, score = 100 * BP * exp(mean_n log p_n) with
/// BP = exp(1 - r/c) when c < r (c, r: total candidate and reference lengths).
/// Works on tokens as given, so it equals sacrebleu with `--tokenize none` on
/// the same tokens. Throws when the counts differ.
BleuScore corpus_bleu(const std::vector<std::vector<std::string>>& candidates,
                      const std::vector<std::vector<std::string>>& references, BleuOptions options = {});

/// The same on token ids (e.g. decoder output before detokenising).
BleuScore corpus_bleu(const std::vector<std::vector<int64_t>>& candidates,
                      const std::vector<std::vector<int64_t>>& references, BleuOptions options = {});

/// The score of corpus statistics: `counts` gives matches, totals, candidate_length and
/// reference_length (the rest is computed). Statistics of several parts of a corpus add up, so
/// this scores a corpus evaluated in shards, e.g. by the ranks of a data-parallel job.
BleuScore bleu_from_counts(BleuScore counts, BleuOptions options = {});

/// BLEU of one sentence; smoothing on by default (unsmoothed sentence BLEU is
/// 0 whenever any 4-gram fails to match, which is most short sentences).
BleuScore sentence_bleu(const std::vector<std::string>& candidate, const std::vector<std::string>& reference,
                        BleuOptions options = {.smooth = true});

}  // namespace focus::data
