#include "report.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "datasets/pictures/heatmap.h"
#include "datasets/pictures/plot.h"

namespace translate {

using namespace focus;
namespace fs = std::filesystem;

void save_attention_png(const fs::path& path, const Tensor& attention, const std::vector<std::string>& source_tokens,
                        const std::vector<std::string>& output_tokens, const std::string& title) {
  if (!attention.defined())
    throw std::invalid_argument("save_attention_png: this model has no attention (trained with --attention none)");
  auto readable = [](std::vector<std::string> tokens) {
    for (std::string& t : tokens)
      if (t == " ") t = "_";
    return tokens;
  };
  pictures::MatrixPlotOptions options;
  options.show_values = false;
  options.row_axis = "output";
  options.col_axis = "source";
  options.min = 0.0;
  options.max = 1.0;
  options.cell_size = 36;
  // The plot is as wide as its cells; the title (the whole sentence pair) gets a canvas wide enough for it.
  pictures::Image plot = pictures::matrix_plot(attention.to(kCPU).to(kFloat32), readable(output_tokens),
                                       readable(source_tokens), "", options);
  const int scale = 2, margin = 10;
  const int title_height = pictures::Image::text_height(title, scale) + 2 * margin;
  pictures::Image canvas(std::max(plot.width, pictures::Image::text_width(title, scale) + 2 * margin),
                     plot.height + title_height, pictures::kWhite);
  canvas.draw_text(margin, margin, title, pictures::kBlack, scale);
  canvas.paste(plot, 0, title_height);
  canvas.save_png(path);
}

}  // namespace translate
