#pragma once
// metrics.csv: one row per epoch, read and written by column name.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace focus::training {

/// One row of metrics, in column order: {"epoch", 3}, {"train_loss", 0.81}, ...
using MetricsRow = std::vector<std::pair<std::string, double>>;

/// The per-epoch log of a training run, a CSV file with a header naming its columns. Every
/// row reaches the disk when it is appended (the file is rewritten atomically), so a crash loses
/// nothing and never leaves half a row. Reading an existing
/// file checks every cell and names the file, line and column of the first one that is not a
/// number. Columns are looked up by name, never by position, so a program that logs one more
/// column can still resume an older run: the file is rewritten with the union of the columns
/// and the cells an older row lacks stay empty (read back as NaN).
class MetricsLog {
 public:
  /// Reads `path` if it exists (an absent file is an empty log); it needs an "epoch" column.
  explicit MetricsLog(std::filesystem::path path);

  /// Drops the rows after epoch `epochs` (a resumed run replaces them) and rewrites the file
  /// atomically if any were dropped.
  void truncate_after(int64_t epochs);
  /// Appends a row (it must have "epoch"). A column the file lacks is added, older rows leave it empty.
  void append(const MetricsRow& row);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }
  int64_t rows() const { return static_cast<int64_t>(rows_.size()); }
  bool has_column(const std::string& name) const;
  /// The values of one column, a row each, NaN where a row has no value. Throws naming the
  /// file and the columns it has when `name` is not one of them.
  std::vector<double> column(const std::string& name) const;

 private:
  void rewrite() const;  // header and every row, into a temporary file renamed over path_

  std::filesystem::path path_;
  std::vector<std::string> columns_;
  std::vector<std::map<std::string, double>> rows_;
};

}  // namespace focus::training
