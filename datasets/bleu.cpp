#include "datasets/bleu.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace focus::data {

namespace {

constexpr int kMaxOrder = 4;

template <typename Token>
using NgramCounts = std::map<std::vector<Token>, int64_t>;

template <typename Token>
NgramCounts<Token> count_ngrams(const std::vector<Token>& tokens, size_t order) {
  NgramCounts<Token> counts;
  for (size_t start = 0; start + order <= tokens.size(); ++start) {
    ++counts[std::vector<Token>(tokens.begin() + static_cast<std::ptrdiff_t>(start),
                                tokens.begin() + static_cast<std::ptrdiff_t>(start + order))];
  }
  return counts;
}

}  // namespace

// Turns corpus statistics into the score, following sacrebleu's compute_bleu.
BleuScore bleu_from_counts(BleuScore stats, BleuOptions options) {
  const auto c = static_cast<double>(stats.candidate_length);
  const auto r = static_cast<double>(stats.reference_length);
  stats.brevity_penalty = stats.candidate_length >= stats.reference_length ? 1.0
                          : stats.candidate_length > 0                   ? std::exp(1.0 - r / c)
                                                                         : 0.0;
  double smoothing_divisor = 1.0;
  int effective_order = kMaxOrder;
  bool any_zero = false;
  for (int n = 0; n < kMaxOrder; ++n) {
    if (stats.totals[n] == 0) {
      any_zero = true;
      break;  // no n-grams of this order, hence none longer either
    }
    if (options.smooth) effective_order = n + 1;
    const auto total = static_cast<double>(stats.totals[n]);
    if (stats.matches[n] > 0) {
      stats.precisions[n] = static_cast<double>(stats.matches[n]) / total;
    } else if (options.smooth) {
      smoothing_divisor *= 2.0;
      stats.precisions[n] = 1.0 / (smoothing_divisor * total);
    } else {
      any_zero = true;
    }
  }
  if (options.smooth) {
    // Orders beyond the effective one are left out of the mean, not counted as zero.
    any_zero = std::any_of(stats.precisions.begin(), stats.precisions.begin() + effective_order,
                           [](double p) { return p == 0.0; });
  }
  if (any_zero || stats.brevity_penalty == 0.0) {
    stats.score = 0.0;
    return stats;
  }
  double log_sum = 0.0;
  for (int n = 0; n < effective_order; ++n) log_sum += std::log(stats.precisions[n]);
  stats.score = 100.0 * stats.brevity_penalty * std::exp(log_sum / effective_order);
  return stats;
}

namespace {

template <typename Token>
BleuScore bleu(const std::vector<std::vector<Token>>& candidates, const std::vector<std::vector<Token>>& references,
               BleuOptions options, const char* op) {
  if (candidates.size() != references.size()) {
    throw std::invalid_argument(
        fmt::format("{}: {} candidates but {} references", op, candidates.size(), references.size()));
  }
  BleuScore stats;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const auto& candidate = candidates[i];
    const auto& reference = references[i];
    stats.candidate_length += static_cast<int64_t>(candidate.size());
    stats.reference_length += static_cast<int64_t>(reference.size());
    for (int n = 0; n < kMaxOrder; ++n) {
      const auto order = static_cast<size_t>(n + 1);
      if (candidate.size() < order) break;
      const NgramCounts<Token> reference_counts = count_ngrams(reference, order);
      for (const auto& [ngram, count] : count_ngrams(candidate, order)) {
        // Clipping: an n-gram earns at most as many matches as the reference holds it.
        auto found = reference_counts.find(ngram);
        if (found != reference_counts.end()) stats.matches[n] += std::min(count, found->second);
      }
      stats.totals[n] += static_cast<int64_t>(candidate.size() - order + 1);
    }
  }
  return bleu_from_counts(stats, options);
}

}  // namespace

std::string BleuScore::to_string() const {
  const double ratio = reference_length > 0 ? static_cast<double>(candidate_length) / static_cast<double>(reference_length) : 0.0;
  return fmt::format("BLEU = {:.2f} {:.1f}/{:.1f}/{:.1f}/{:.1f} (BP = {:.3f} ratio = {:.3f} hyp_len = {} ref_len = {})",
                     score, 100 * precisions[0], 100 * precisions[1], 100 * precisions[2], 100 * precisions[3],
                     brevity_penalty, ratio, candidate_length, reference_length);
}

BleuScore corpus_bleu(const std::vector<std::vector<std::string>>& candidates,
                      const std::vector<std::vector<std::string>>& references, BleuOptions options) {
  return bleu(candidates, references, options, "corpus_bleu");
}

BleuScore corpus_bleu(const std::vector<std::vector<int64_t>>& candidates,
                      const std::vector<std::vector<int64_t>>& references, BleuOptions options) {
  return bleu(candidates, references, options, "corpus_bleu");
}

BleuScore sentence_bleu(const std::vector<std::string>& candidate, const std::vector<std::string>& reference,
                        BleuOptions options) {
  return bleu(std::vector<std::vector<std::string>>{candidate}, std::vector<std::vector<std::string>>{reference},
              options, "sentence_bleu");
}

}  // namespace focus::data
