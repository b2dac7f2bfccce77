#pragma once
// Text in pictures: a TrueType font for labels in any script it covers (French accents and
// guillemets, Greek, Cyrillic...), with the built-in ASCII bitmap font as the fallback when no
// font file is found. Image::draw_text and text_width go through label_font().
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace focus::pictures {

/// A TrueType (.ttf) font, rendered with stb_truetype: anti-aliased glyphs at any pixel height.
class Font {
 public:
  /// Reads a .ttf file; throws naming the file when it cannot be read or is not a TrueType font.
  static std::shared_ptr<const Font> load(const std::filesystem::path& file);

  const std::filesystem::path& file() const { return file_; }
  /// Whether the font has a glyph for `code_point` (one it lacks is drawn as the font's
  /// missing-glyph box, never skipped).
  bool has_glyph(char32_t code_point) const;
  /// Width in pixels of one line of text (no '\n') whose line box is `line_height` pixels high.
  int line_width(std::u32string_view line, int line_height) const;
  /// Draws one line with its line box's top-left corner at (x, y): calls ink(px, py, coverage)
  /// for every pixel a glyph touches, coverage in (0, 1].
  void draw_line(std::u32string_view line, int line_height, int x, int y,
                 const std::function<void(int, int, double)>& ink) const;

  ~Font();
  Font(const Font&) = delete;
  Font& operator=(const Font&) = delete;

 private:
  Font() = default;
  struct Face;  // stb_truetype's font record, kept out of this header
  std::filesystem::path file_;
  std::vector<unsigned char> data_;  // the file's bytes, which the face points into
  std::unique_ptr<Face> face_;
  double scale(int line_height) const;
  int baseline(int line_height) const;
};

/// The font labels are drawn in, looked up once: the file $FOCUS_FONT names, else DejaVu Sans from
/// Debian's fonts-dejavu-core. Null when neither loads: labels then use the ASCII bitmap font
/// (accents dropped, other characters '?'), and one warning on stderr says what to install.
const Font* label_font();

/// Replaces the label font for this process (null: the ASCII bitmap font), e.g. to draw with a
/// font of one's own or to test the fallback.
void set_label_font(std::shared_ptr<const Font> font);

/// Where label_font() looks, in order.
std::vector<std::filesystem::path> label_font_candidates();

}  // namespace focus::pictures
