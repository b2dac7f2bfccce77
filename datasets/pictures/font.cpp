#include "datasets/pictures/font.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>

#include <stb_truetype.h>  // the implementation is in libstb

namespace focus::pictures {

struct Font::Face {
  stbtt_fontinfo info;
};

Font::~Font() = default;

std::shared_ptr<const Font> Font::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("font {}: cannot be read", file.string()));
  std::shared_ptr<Font> font(new Font());
  font->file_ = file;
  font->data_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  font->face_ = std::make_unique<Face>();
  // A TrueType file starts with the sfnt version 0x00010000 or 'true'; anything else (a collection,
  // OpenType CFF, not a font) stb_truetype would misread.
  const std::vector<unsigned char>& d = font->data_;
  const bool truetype = d.size() >= 12 && ((d[0] == 0 && d[1] == 1 && d[2] == 0 && d[3] == 0) ||
                                           (d[0] == 't' && d[1] == 'r' && d[2] == 'u' && d[3] == 'e'));
  if (!truetype || !stbtt_InitFont(&font->face_->info, d.data(), 0))
    throw std::runtime_error(fmt::format("font {}: not a TrueType (.ttf) font", file.string()));
  return font;
}

bool Font::has_glyph(char32_t code_point) const {
  return stbtt_FindGlyphIndex(&face_->info, static_cast<int>(code_point)) != 0;
}

// The scale that makes the font's ascent-to-descent span fill the line box.
double Font::scale(int line_height) const {
  return stbtt_ScaleForPixelHeight(&face_->info, static_cast<float>(line_height));
}

// The baseline's distance from the top of the line box.
int Font::baseline(int line_height) const {
  int ascent = 0, descent = 0, gap = 0;
  stbtt_GetFontVMetrics(&face_->info, &ascent, &descent, &gap);
  return static_cast<int>(std::lround(ascent * scale(line_height)));
}

int Font::line_width(std::u32string_view line, int line_height) const {
  const double s = scale(line_height);
  double width = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    int advance = 0, left_bearing = 0;
    stbtt_GetCodepointHMetrics(&face_->info, static_cast<int>(line[i]), &advance, &left_bearing);
    width += advance * s;
    if (i + 1 < line.size())
      width += s * stbtt_GetCodepointKernAdvance(&face_->info, static_cast<int>(line[i]), static_cast<int>(line[i + 1]));
  }
  return static_cast<int>(std::ceil(width));
}

void Font::draw_line(std::u32string_view line, int line_height, int x, int y,
                     const std::function<void(int, int, double)>& ink) const {
  const float s = static_cast<float>(scale(line_height));
  const int base = y + baseline(line_height);
  double pen = x;
  std::vector<unsigned char> coverage;
  for (size_t i = 0; i < line.size(); ++i) {
    const int code = static_cast<int>(line[i]);
    int advance = 0, left_bearing = 0;
    stbtt_GetCodepointHMetrics(&face_->info, code, &advance, &left_bearing);
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    stbtt_GetCodepointBitmapBox(&face_->info, code, s, s, &x0, &y0, &x1, &y1);
    const int w = x1 - x0, h = y1 - y0;
    if (w > 0 && h > 0) {
      coverage.assign(static_cast<size_t>(w) * h, 0);
      stbtt_MakeCodepointBitmap(&face_->info, coverage.data(), w, h, w, s, s, code);
      const int left = static_cast<int>(std::lround(pen)) + x0, top = base + y0;
      for (int gy = 0; gy < h; ++gy)
        for (int gx = 0; gx < w; ++gx)
          if (const unsigned char c = coverage[static_cast<size_t>(gy) * w + gx]) ink(left + gx, top + gy, c / 255.0);
    }
    pen += advance * s;
    if (i + 1 < line.size()) pen += s * stbtt_GetCodepointKernAdvance(&face_->info, code, static_cast<int>(line[i + 1]));
  }
}

std::vector<std::filesystem::path> label_font_candidates() {
  std::vector<std::filesystem::path> candidates;
  if (const char* chosen = std::getenv("FOCUS_FONT"); chosen && *chosen) candidates.emplace_back(chosen);
  candidates.emplace_back("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");  // fonts-dejavu-core
  return candidates;
}

namespace {

std::mutex font_mutex;
bool font_looked_up = false;
std::shared_ptr<const Font> current_font;

std::shared_ptr<const Font> find_label_font() {
  std::string problems;
  for (const std::filesystem::path& file : label_font_candidates()) {
    try {
      return Font::load(file);
    } catch (const std::exception& e) {
      problems += fmt::format("{}{}", problems.empty() ? "" : "; ", e.what());
    }
  }
  std::fprintf(stderr,
               "pictures: no TrueType font found (%s); labels are drawn in ASCII without accents. Install "
               "fonts-dejavu-core or set FOCUS_FONT to a .ttf file.\n",
               problems.c_str());
  return nullptr;
}

}  // namespace

const Font* label_font() {
  std::lock_guard<std::mutex> lock(font_mutex);
  if (!font_looked_up) {
    current_font = find_label_font();
    font_looked_up = true;
  }
  return current_font.get();
}

void set_label_font(std::shared_ptr<const Font> font) {
  std::lock_guard<std::mutex> lock(font_mutex);
  current_font = std::move(font);
  font_looked_up = true;
}

}  // namespace focus::pictures
