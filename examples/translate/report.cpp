#include "report.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "autograd/ops.h"
#include "datasets/pictures/heatmap.h"
#include "datasets/pictures/plot.h"
#include "datasets/tokenizer.h"
#include "translator_limits.h"

namespace translate {

using namespace focus;
namespace fs = std::filesystem;

namespace {

// At most `max_characters` code points of `text`, control characters shown as U+FFFD and bytes that are
// not UTF-8 too (decode's replacement), so a picture's text is as long as the limit and one line.
std::string shortened(const std::string& text, int64_t max_characters) {
  std::u32string characters = data::utf8::decode(text);
  for (char32_t& c : characters)
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) c = data::utf8::kReplacement;
  if (static_cast<int64_t>(characters.size()) > max_characters) {
    characters.resize(static_cast<size_t>(max_characters - 3));
    characters += U"...";
  }
  return data::utf8::encode(characters);
}

}  // namespace

void save_attention_png(const fs::path& path, const Tensor& attention, const std::vector<std::string>& source_tokens,
                        const std::vector<std::string>& output_tokens, const std::string& title) {
  if (!attention.defined())
    throw std::invalid_argument("save_attention_png: this model has no attention (trained with --attention none)");
  if (attention.dim() != 2 || attention.size(0) != static_cast<int64_t>(output_tokens.size()) ||
      attention.size(1) != static_cast<int64_t>(source_tokens.size()))
    throw std::invalid_argument(fmt::format("save_attention_png: attention {} for {} output and {} source tokens",
                                            shape_str(attention.shape()), output_tokens.size(), source_tokens.size()));
  // The picture's size has a bound whatever the input: at most kMaxPictureTokens cells a side, labels
  // and title of a bounded length.
  const int64_t rows = std::min(attention.size(0), limits::kMaxPictureTokens);
  const int64_t columns = std::min(attention.size(1), limits::kMaxPictureTokens);
  auto labels = [](const std::vector<std::string>& tokens, int64_t count) {
    std::vector<std::string> shown;
    for (int64_t i = 0; i < count; ++i) {
      const std::string& t = tokens[static_cast<size_t>(i)];
      shown.push_back(t == " " ? "_" : shortened(t, limits::kMaxLabelCharacters));
    }
    return shown;
  };
  std::string heading = shortened(title, limits::kMaxTitleCharacters);
  if (rows < attention.size(0) || columns < attention.size(1))
    heading += fmt::format("\n(the first {} of {} output and {} of {} source tokens)", rows, attention.size(0), columns,
                           attention.size(1));
  pictures::MatrixPlotOptions options;
  options.show_values = false;
  options.row_axis = "output";
  options.col_axis = "source";
  options.min = 0.0;
  options.max = 1.0;
  options.cell_size = 36;
  // The plot is as wide as its cells; the title (the sentence pair) gets a canvas wide enough for it.
  const Tensor shown = attention.to(kCPU).to(kFloat32).narrow(0, 0, rows).narrow(1, 0, columns);
  pictures::Image plot = pictures::matrix_plot(contiguous(shown), labels(output_tokens, rows),
                                               labels(source_tokens, columns), "", options);
  const int scale = 2, margin = 10;
  const int title_height = pictures::Image::text_height(heading, scale) + 2 * margin;
  pictures::Image canvas(std::max(plot.width, pictures::Image::text_width(heading, scale) + 2 * margin),
                         plot.height + title_height, pictures::kWhite);
  canvas.draw_text(margin, margin, heading, pictures::kBlack, scale);
  canvas.paste(plot, 0, title_height);
  canvas.save_png(path);
}

}  // namespace translate
