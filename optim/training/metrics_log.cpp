#include "optim/training/metrics_log.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tensor/atomic_file.h"

namespace focus::training {

namespace {
namespace fs = std::filesystem;

std::vector<std::string> split_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream stream(line);
  for (std::string cell; std::getline(stream, cell, ',');) cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();  // getline drops a trailing empty cell
  return cells;
}

// An empty cell is a value the row never had (a column added later): NaN.
double parse_cell(const fs::path& path, int64_t line_number, const std::string& column, const std::string& cell) {
  if (cell.empty()) return NAN;
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(cell, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != cell.size())
    throw std::runtime_error(fmt::format("{} line {}, column '{}': '{}' is not a number (a damaged metrics file?)",
                                         path.string(), line_number, column, cell));
  return value;
}

std::string format_cell(double value) { return std::isnan(value) ? std::string() : fmt::format("{:.6g}", value); }

std::string format_row(const std::vector<std::string>& columns, const std::map<std::string, double>& row) {
  std::string line;
  for (size_t i = 0; i < columns.size(); ++i) {
    auto it = row.find(columns[i]);
    line += (i ? "," : "") + (it == row.end() ? std::string() : format_cell(it->second));
  }
  return line;
}
}  // namespace

MetricsLog::MetricsLog(fs::path path) : path_(std::move(path)) {
  std::ifstream in(path_);
  if (!in) return;
  std::string header;
  if (!std::getline(in, header) || header.empty()) return;
  columns_ = split_cells(header);
  if (std::find(columns_.begin(), columns_.end(), "epoch") == columns_.end())
    throw std::runtime_error(fmt::format("{} line 1: the header ({}) has no 'epoch' column (not a metrics file?)",
                                         path_.string(), header));
  std::string line;
  for (int64_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const std::vector<std::string> cells = split_cells(line);
    if (cells.size() != columns_.size())
      throw std::runtime_error(fmt::format("{} line {}: {} cells where the header names {} columns (a damaged "
                                           "metrics file?)",
                                           path_.string(), number, cells.size(), columns_.size()));
    std::map<std::string, double> row;
    for (size_t c = 0; c < cells.size(); ++c) row[columns_[c]] = parse_cell(path_, number, columns_[c], cells[c]);
    if (std::isnan(row["epoch"]))
      throw std::runtime_error(fmt::format("{} line {}: the row has no epoch", path_.string(), number));
    rows_.push_back(std::move(row));
  }
}

bool MetricsLog::has_column(const std::string& name) const {
  return std::find(columns_.begin(), columns_.end(), name) != columns_.end();
}

std::vector<double> MetricsLog::column(const std::string& name) const {
  if (!has_column(name))
    throw std::invalid_argument(fmt::format("{}: no column '{}' (it has: {})", path_.string(), name,
                                            fmt::join(columns_, ", ")));
  std::vector<double> values;
  for (const auto& row : rows_) {
    auto it = row.find(name);
    values.push_back(it == row.end() ? NAN : it->second);
  }
  return values;
}

void MetricsLog::truncate_after(int64_t epochs) {
  const size_t before = rows_.size();
  std::erase_if(rows_, [&](const auto& row) { return row.at("epoch") > static_cast<double>(epochs); });
  if (rows_.size() != before) rewrite();
}

void MetricsLog::append(const MetricsRow& row) {
  std::map<std::string, double> values;
  for (const auto& [name, value] : row) {
    if (!values.emplace(name, value).second)
      throw std::invalid_argument(fmt::format("{}: the row names column '{}' twice", path_.string(), name));
    if (!has_column(name)) columns_.push_back(name);
  }
  if (!values.count("epoch")) throw std::invalid_argument(fmt::format("{}: a row needs an 'epoch'", path_.string()));
  rows_.push_back(std::move(values));
  // The whole file again rather than an append: a crash mid-append would leave half a row, and
  // one row per epoch makes rewriting cheap.
  rewrite();
}

void MetricsLog::rewrite() const {
  std::string text = fmt::format("{}\n", fmt::join(columns_, ","));
  for (const auto& row : rows_) text += format_row(columns_, row) + '\n';
  write_file_atomically(path_, text);
}

}  // namespace focus::training
