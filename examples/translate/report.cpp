#include "report.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "datasets/plot.h"
#include "datasets/png.h"
#include "nn/json.h"

namespace translate {

using namespace focus;
namespace fs = std::filesystem;

const std::vector<std::string>& metrics_columns() {
  static const std::vector<std::string> columns{"epoch",   "train_loss", "val_loss",     "val_perplexity",
                                                "val_bleu", "val_exact",  "tokens_per_s", "lr",
                                                "seconds"};
  return columns;
}

History read_history(const fs::path& csv) {
  History h;
  std::ifstream in(csv);
  std::string line;
  if (!std::getline(in, line)) return h;
  while (std::getline(in, line)) {
    std::vector<double> v;
    std::stringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) v.push_back(std::stod(cell));
    if (v.size() >= 6) h.add(v[1], v[2], v[4], v[5]);
  }
  return h;
}

void save_curves(const History& history, const fs::path& path) {
  data::Image loss = data::line_plot({{"train", history.train_loss}, {"validation", history.val_loss}}, "loss",
                                     "epoch", "cross-entropy per token");
  std::vector<double> exact_percent;
  for (double e : history.val_exact) exact_percent.push_back(100 * e);
  data::Image quality = data::line_plot({{"BLEU", history.val_bleu}, {"exact match %", exact_percent}},
                                        "validation", "epoch", "BLEU / %");
  data::grid({loss, quality}, 2, 8).save_png(path);
}

void save_attention_png(const fs::path& path, const Tensor& attention, const std::vector<std::string>& source_tokens,
                        const std::vector<std::string>& output_tokens, const std::string& title) {
  if (!attention.defined())
    throw std::invalid_argument("save_attention_png: this model has no attention (trained with --attention none)");
  auto readable = [](std::vector<std::string> tokens) {
    for (std::string& t : tokens)
      if (t == " ") t = "_";
    return tokens;
  };
  data::MatrixPlotOptions options;
  options.show_values = false;
  options.row_axis = "output";
  options.col_axis = "source";
  options.min = 0.0;
  options.max = 1.0;
  options.cell_size = 36;
  // The plot is as wide as its cells; the title (the whole sentence pair) gets a canvas wide enough for it.
  data::Image plot = data::matrix_plot(attention.to(kCPU).to(kFloat32), readable(output_tokens),
                                       readable(source_tokens), "", options);
  const int scale = 2, margin = 10;
  const int title_height = data::Image::text_height(title, scale) + 2 * margin;
  data::Image canvas(std::max(plot.width, data::Image::text_width(title, scale) + 2 * margin),
                     plot.height + title_height, data::kWhite);
  canvas.draw_text(margin, margin, title, data::kBlack, scale);
  canvas.paste(plot, 0, title_height);
  canvas.save_png(path);
}

void write_summary(const fs::path& path, const std::map<std::string, std::string>& summary) {
  std::string json = "{\n";
  size_t k = 0;
  for (const auto& [key, value] : summary) {
    bool numeric = !value.empty() && value.find_first_not_of("0123456789.-e") == std::string::npos &&
                   value.find_first_of("0123456789") != std::string::npos;
    json += fmt::format("  {}: {}{}\n", nn::json::quote(key), numeric ? value : nn::json::quote(value),
                        ++k < summary.size() ? "," : "");
  }
  json += "}\n";
  std::ofstream(path) << json;
}

}  // namespace translate
