#pragma once
// What a translator run leaves behind besides checkpoints: learning curves, attention
// heat maps and summary.json.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace translate {

/// Per-epoch values, read back from metrics.csv when a run resumes.
struct History {
  std::vector<double> train_loss, val_loss, val_bleu, val_exact;
  void add(double tl, double vl, double bleu, double exact) {
    train_loss.push_back(tl), val_loss.push_back(vl), val_bleu.push_back(bleu), val_exact.push_back(exact);
  }
};

/// The columns of metrics.csv, in order.
const std::vector<std::string>& metrics_columns();
/// The history in `csv` (empty when the file does not exist yet).
History read_history(const std::filesystem::path& csv);
/// Loss (train and validation) and validation BLEU / exact match per epoch, side by side.
void save_curves(const History& history, const std::filesystem::path& path);

/// An alignment as a heat map: attention [output rows, source columns] with the output tokens
/// labelling the rows and the source tokens the columns (spaces shown as '_').
void save_attention_png(const std::filesystem::path& path, const focus::Tensor& attention,
                        const std::vector<std::string>& source_tokens, const std::vector<std::string>& output_tokens,
                        const std::string& title);

/// summary.json: numbers as numbers, everything else as strings.
void write_summary(const std::filesystem::path& path, const std::map<std::string, std::string>& summary);

}  // namespace translate
