// PNG canvas and plots: round trip through stb_image, atomic writes, colour
// map monotonicity, text and shapes, resizing, overlays, grids, and the line
// and matrix plots (also written to <build>/test_outputs/datasets to look at).
#include <catch2/catch.hpp>

#include <stb_image.h>  // the implementation is in libstb

#include <cmath>
#include <memory>

#include "datasets/pictures/font.h"
#include "datasets/pictures/heatmap.h"
#include "datasets/pictures/plot.h"
#include "datasets/pictures/ticks.h"
#include "temp_directory.h"

using namespace focus;
using namespace focus::data;
using namespace focus::pictures;
using focus::testing::TempDirectory;
using focus::testing::write_file;

namespace {

struct Decoded {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  Color at(int x, int y) const {
    const size_t i = 3 * (static_cast<size_t>(y) * width + x);
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

Decoded read_png(const std::filesystem::path& path) {
  Decoded out;
  int channels = 0;
  unsigned char* pixels = stbi_load(path.c_str(), &out.width, &out.height, &channels, 3);
  REQUIRE(pixels != nullptr);
  out.rgb.assign(pixels, pixels + static_cast<size_t>(out.width) * out.height * 3);
  stbi_image_free(pixels);
  return out;
}

double luminance(Color c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b; }

// Bounding box of pixels that differ from `background`; {-1,...} when none.
struct Box {
  int x0 = -1, y0 = -1, x1 = -1, y1 = -1;
  int count = 0;
};
Box ink_box(const Image& image, Color background) {
  Box box;
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      if (image.pixel(x, y) != background) {
        if (box.count++ == 0) box = {x, y, x, y, 1};
        box.x0 = std::min(box.x0, x), box.y0 = std::min(box.y0, y);
        box.x1 = std::max(box.x1, x), box.y1 = std::max(box.y1, y);
      }
  return box;
}

// Pictures for a human to look at; kept in the build tree.
std::filesystem::path output_dir() {
  const auto dir = std::filesystem::path(FOCUS_BINARY_DIR) / "test_outputs" / "datasets";
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

TEST_CASE("save_png writes pixels that stb_image reads back unchanged", "[data][png]") {
  TempDirectory tmp("png");
  // [3, 2, 4] with red = x / 3, green = y, blue = 0.5.
  Tensor rgb = zeros({3, 2, 4});
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 4; ++x) {
      rgb.set({0, y, x}, x / 3.0);
      rgb.set({1, y, x}, y);
      rgb.set({2, y, x}, 0.5);
    }
  Image image = Image::from_tensor(rgb);
  REQUIRE(image.width == 4);
  REQUIRE(image.height == 2);
  image.save_png(tmp / "rgb.png");
  Decoded back = read_png(tmp / "rgb.png");
  REQUIRE(back.width == 4);
  REQUIRE(back.height == 2);
  REQUIRE(back.rgb == image.bytes);
  REQUIRE(back.at(3, 1) == Color{255, 255, 128});
  REQUIRE(back.at(1, 0) == Color{85, 0, 128});

  // Grey [H, W] with an explicit range: min black, max white, outside clamped.
  Image grey = Image::from_tensor(from_vector(std::vector<float>{-1, 0, 1, 5}, {2, 2}), -1.0, 1.0);
  REQUIRE(grey.pixel(0, 0) == kBlack);
  REQUIRE(grey.pixel(1, 0) == Color{128, 128, 128});
  REQUIRE(grey.pixel(0, 1) == kWhite);
  REQUIRE(grey.pixel(1, 1) == kWhite);
  REQUIRE_THROWS_WITH(Image::from_tensor(zeros({2, 3, 3})),
                      Catch::Contains("expected [3, H, W], [1, H, W] or [H, W], got [2, 3, 3]"));
}

TEST_CASE("save_png is atomic: no temporary files remain, failures name the path", "[data][png]") {
  TempDirectory tmp("png");
  Image image(3, 3, Color{10, 20, 30});
  image.save_png(tmp / "a.png");
  Image other(5, 2, kWhite);
  other.save_png(tmp / "a.png");  // replaces the old picture
  Decoded back = read_png(tmp / "a.png");
  REQUIRE(back.width == 5);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tmp.path())) {
    ++files;
    REQUIRE(entry.path().filename() == "a.png");
  }
  REQUIRE(files == 1);

  REQUIRE_THROWS_WITH(image.save_png(tmp / "no" / "such" / "dir.png"),
                      Catch::Contains("save_png: cannot write") && Catch::Contains("dir.png"));
  REQUIRE_THROWS_WITH(Image().save_png(tmp / "empty.png"), Catch::Contains("empty 0x0 image"));
  REQUIRE_FALSE(std::filesystem::exists(tmp / "empty.png"));
}

TEST_CASE("viridis and heat maps rise in brightness with the value", "[data][png]") {
  // 64 steps: each raises brightness by >= 2.4, more than rounding to bytes can take back.
  double previous = -1;
  for (int i = 0; i <= 64; ++i) {
    const double now = luminance(viridis(i / 64.0));
    REQUIRE(now > previous);
    previous = now;
  }
  REQUIRE(viridis(0.0) == Color{68, 1, 84});
  REQUIRE(viridis(1.0) == Color{253, 231, 37});
  REQUIRE(viridis(-3.0) == viridis(0.0));  // clamped
  REQUIRE(viridis(NAN) == viridis(0.0));

  // A [2, 5] ramp: the range is the tensor's own, so its ends are the map's ends.
  Tensor ramp = from_vector(std::vector<float>{1, 2, 3, 4, 5, 1, 2, 3, 4, 5}, {2, 5});
  Image map = heatmap(ramp);
  REQUIRE(map.width == 5);
  REQUIRE(map.height == 2);
  REQUIRE(map.pixel(0, 0) == viridis(0.0));
  REQUIRE(map.pixel(4, 1) == viridis(1.0));
  for (int x = 1; x < 5; ++x) REQUIRE(luminance(map.pixel(x, 0)) > luminance(map.pixel(x - 1, 0)));
  // A fixed range clamps; a constant map does not divide by zero.
  REQUIRE(heatmap(ramp, 2.0, 4.0).pixel(0, 0) == viridis(0.0));
  REQUIRE(heatmap(ramp, 2.0, 4.0).pixel(2, 0) == viridis(0.5));
  REQUIRE(heatmap(full({2, 2}, 7.0)).pixel(1, 1) == viridis(0.5));
  REQUIRE_THROWS_WITH(heatmap(zeros({3})), Catch::Contains("heatmap: expected a [H, W] tensor, got [3]"));
}

TEST_CASE("draw_text puts ink inside the measured text box only", "[data][png]") {
  for (int scale : {1, 3}) {
    Image canvas(200, 80, kWhite);
    const std::string text = "Loss 0.25";
    canvas.draw_text(10, 20, text, kBlack, scale);
    const Box box = ink_box(canvas, kWhite);
    REQUIRE(box.count > 20 * scale * scale);
    REQUIRE(box.x0 >= 10);
    REQUIRE(box.y0 >= 20);
    REQUIRE(box.x1 < 10 + Image::text_width(text, scale));
    REQUIRE(box.y1 < 20 + Image::text_height(text, scale));
    REQUIRE(box.x1 > 10 + Image::text_width(text, scale) / 2);  // the text spans the box
  }
  // Vertical text occupies the transposed box.
  Image canvas(80, 200, kWhite);
  canvas.draw_text_vertical(5, 7, "accuracy", kBlack, 2);
  const Box box = ink_box(canvas, kWhite);
  REQUIRE(box.x0 >= 5);
  REQUIRE(box.x1 < 5 + Image::text_height("accuracy", 2));
  REQUIRE(box.y0 >= 7);
  REQUIRE(box.y1 < 7 + Image::text_width("accuracy", 2));
  REQUIRE(box.y1 - box.y0 > box.x1 - box.x0);

  Image odd(100, 20, kWhite);
  odd.draw_text(0, 0, "\x7f\t\xff漢", kBlack);  // DEL, tab, a stray byte, a CJK character: no crash
  REQUIRE(ink_box(odd, kWhite).count > 0);
  REQUIRE(Image::text_height("a\nb", 2) == 48);
}

namespace {
// Ink drawn for `text` in the current label font, on a white canvas.
Image drawn(const std::string& text, int scale = 2) {
  Image canvas(std::max(1, Image::text_width(text, scale)) + 4, Image::text_height(text, scale) + 4, kWhite);
  canvas.draw_text(2, 2, text, kBlack, scale);
  return canvas;
}

// Sets the label font for one scope, then restores the one found at start-up.
struct LabelFont {
  explicit LabelFont(std::shared_ptr<const Font> font) { set_label_font(std::move(font)); }
  ~LabelFont() { set_label_font(nullptr), set_label_font(found()); }
  static std::shared_ptr<const Font> found() {
    for (const auto& file : label_font_candidates()) try {
        return Font::load(file);
      } catch (const std::exception&) {
      }
    return nullptr;
  }
};
}  // namespace

TEST_CASE("labels in a TrueType font: accents, guillemets and Cyrillic drawn as written", "[data][png]") {
  std::shared_ptr<const Font> font = LabelFont::found();
  if (!font) {
    WARN("no TrueType font (fonts-dejavu-core, or FOCUS_FONT): only the ASCII fallback is tested");
    return;
  }
  LabelFont use(font);
  for (const char32_t c : {U'é', U'Ç', U'«', U'»', U'œ', U'ж', U'λ'}) REQUIRE(font->has_glyph(c));
  // Accented tokens of the translator's French side are not their unaccented spellings...
  REQUIRE(drawn("clés").bytes != drawn("cles").bytes);
  REQUIRE(drawn("Ça va").bytes != drawn("Ca va").bytes);
  // ...the accent is ink above the letter: the same width, more pixels.
  REQUIRE(Image::text_width("é", 2) == Image::text_width("e", 2));
  REQUIRE(ink_box(drawn("é"), kWhite).count > ink_box(drawn("e"), kWhite).count);
  REQUIRE(ink_box(drawn("é"), kWhite).y0 < ink_box(drawn("e"), kWhite).y0);
  // Guillemets and other scripts get ink of their own, not a '?'.
  REQUIRE(ink_box(drawn("«»"), kWhite).count > 0);
  REQUIRE(drawn("привет").bytes != drawn("??????").bytes);
  REQUIRE(Image::text_width("привет", 2) > Image::text_width("п", 2) * 4);
  // Ink stays inside the measured box, vertical text too.
  const Image word = drawn("déjà vu « ici »");
  const Box box = ink_box(word, kWhite);
  REQUIRE(box.x0 >= 2);
  REQUIRE(box.y0 >= 2);
  REQUIRE(box.x1 < 2 + Image::text_width("déjà vu « ici »", 2) + 2);
  REQUIRE(box.y1 < 2 + Image::text_height("x", 2));
  Image vertical(60, 300, kWhite);
  vertical.draw_text_vertical(5, 5, "précision", kBlack, 2);
  const Box turned = ink_box(vertical, kWhite);
  REQUIRE(turned.count > 0);
  REQUIRE(turned.y1 - turned.y0 > turned.x1 - turned.x0);
  // Anti-aliased: some pixels are between the text colour and the background.
  bool grey = false;
  for (size_t i = 0; i < word.bytes.size(); i += 3) grey = grey || (word.bytes[i] > 0 && word.bytes[i] < 255);
  REQUIRE(grey);
}

TEST_CASE("without a TrueType font, labels fall back to ASCII: accents dropped, the rest '?'", "[data][png]") {
  LabelFont none(nullptr);
  REQUIRE(label_font() == nullptr);
  REQUIRE(Image::text_width("été", 1) == Image::text_width("ete", 1));
  REQUIRE(drawn("Ça va ?", 1).bytes == drawn("Ca va ?", 1).bytes);
  REQUIRE(drawn("ж", 1).bytes == drawn("?", 1).bytes);
  REQUIRE(Image::text_height("a\nb", 2) == 48);
}

TEST_CASE("a font file that is missing or not a font is an error naming it", "[data][png]") {
  TempDirectory tmp;
  REQUIRE_THROWS_WITH(Font::load(tmp / "absent.ttf"), Catch::Contains("absent.ttf: cannot be read"));
  write_file(tmp / "fake.ttf", "this is not a font at all");
  REQUIRE_THROWS_WITH(Font::load(tmp / "fake.ttf"), Catch::Contains("fake.ttf: not a TrueType (.ttf) font"));
}

TEST_CASE("rectangles, lines, scaling and pasting touch the right pixels", "[data][png]") {
  Image image(10, 8, kWhite);
  image.fill_rect(2, 3, 4, 2, kBlack);
  REQUIRE(ink_box(image, kWhite).count == 8);
  REQUIRE(image.pixel(2, 3) == kBlack);
  REQUIRE(image.pixel(5, 4) == kBlack);
  REQUIRE(image.pixel(6, 4) == kWhite);
  image.fill_rect(-5, -5, 7, 6, kGray);  // clipped, not an error
  REQUIRE(image.pixel(0, 0) == kGray);
  REQUIRE(image.pixel(1, 0) == kGray);
  REQUIRE(image.pixel(2, 0) == kWhite);

  Image outline(6, 5, kWhite);
  outline.draw_rect(0, 0, 6, 5, kBlack);
  REQUIRE(ink_box(outline, kWhite).count == 2 * 6 + 2 * 3);
  REQUIRE(outline.pixel(2, 2) == kWhite);

  Image line(10, 10, kWhite);
  line.draw_line(1, 1, 8, 8, kBlack);
  REQUIRE(ink_box(line, kWhite).count == 8);  // the diagonal, one pixel per step
  for (int i = 1; i <= 8; ++i) REQUIRE(line.pixel(i, i) == kBlack);

  Image small(2, 1);
  small.set_pixel(0, 0, kBlack);
  Image big = small.scale(3);
  REQUIRE(big.width == 6);
  REQUIRE(big.height == 3);
  REQUIRE(big.pixel(2, 2) == kBlack);
  REQUIRE(big.pixel(3, 0) == kWhite);

  Image target(4, 4, kWhite);
  target.paste(small, 3, 3);  // partly outside: clipped
  REQUIRE(target.pixel(3, 3) == kBlack);
}

TEST_CASE("bilinear resize and overlays", "[data][png]") {
  Image two(2, 1);
  two.set_pixel(0, 0, kBlack);
  two.set_pixel(1, 0, kWhite);
  Image wide = two.resize(8, 1);
  REQUIRE(wide.pixel(0, 0) == kBlack);  // the outer quarter keeps the end colours
  REQUIRE(wide.pixel(7, 0) == kWhite);
  for (int x = 1; x < 8; ++x) REQUIRE(wide.pixel(x, 0).r >= wide.pixel(x - 1, 0).r);
  REQUIRE(wide.pixel(3, 0).r > 0);
  REQUIRE(wide.pixel(3, 0).r < 255);
  REQUIRE(Image(3, 3, Color{9, 99, 199}).resize(7, 5).pixel(4, 2) == Color{9, 99, 199});

  const Image photo(8, 4, Color{200, 100, 50});
  const Tensor heat = from_vector(std::vector<float>{0, 1}, {1, 2});  // left cold, right hot
  REQUIRE(overlay(photo, heat, 0.0).bytes == photo.bytes);
  const Image hot = overlay(photo, heat, 1.0);
  REQUIRE(hot.pixel(0, 0) == viridis(0.0));
  REQUIRE(hot.pixel(7, 3) == viridis(1.0));
  for (int x = 1; x < 8; ++x) REQUIRE(luminance(hot.pixel(x, 1)) >= luminance(hot.pixel(x - 1, 1)));
  const Image half = overlay(photo, heat, 0.5);
  REQUIRE(half.pixel(0, 0).r == (200 + 68 + 1) / 2);

  const Image coloured = overlay(photo, heatmap(heat), 1.0);  // an already coloured map, resized
  REQUIRE(coloured.pixel(0, 0) == viridis(0.0));
  REQUIRE(coloured.width == 8);
}

TEST_CASE("grid tiles images with padding", "[data][png]") {
  std::vector<Image> tiles;
  for (int i = 0; i < 5; ++i) tiles.emplace_back(4, 3, palette(i));
  Image sheet = grid(tiles, 3, 2, kWhite);
  REQUIRE(sheet.width == 3 * (4 + 2) + 2);
  REQUIRE(sheet.height == 2 * (3 + 2) + 2);
  REQUIRE(sheet.pixel(2, 2) == palette(0));
  REQUIRE(sheet.pixel(2 + 6, 2) == palette(1));
  REQUIRE(sheet.pixel(2 + 6 + 3, 2 + 5 + 2) == palette(4));
  REQUIRE(sheet.pixel(1, 1) == kWhite);
  REQUIRE(sheet.pixel(2 + 12 + 1, 2 + 5 + 1) == kWhite);  // no sixth image
  REQUIRE_THROWS_WITH(grid({}, 3), Catch::Contains("grid: no images"));
}

TEST_CASE("nice ticks are round numbers inside the range", "[data][plot]") {
  REQUIRE(nice_ticks(0, 1, 6) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  const std::vector<double> ticks = nice_ticks(0.13, 0.87, 6);  // raw step 0.148 rounds to 0.1
  REQUIRE(ticks.size() == 7);
  REQUIRE(ticks.front() == Approx(0.2));
  REQUIRE(ticks.back() == Approx(0.8));
  REQUIRE(nice_ticks(-8, 408, 3) == std::vector<double>{0, 200, 400});  // raw 208 rounds to 200, not up to 500
  REQUIRE(nice_ticks(-3, 7, 6) == std::vector<double>{-2, 0, 2, 4, 6});
  REQUIRE(nice_ticks(1, 10, 10).size() == 10);
  REQUIRE(nice_ticks(5, 5) == std::vector<double>{5});
  REQUIRE(format_tick(0.25, {0, 0.25, 0.5}) == "0.25");
  REQUIRE(format_tick(0.5, {0, 0.5, 1}) == "0.5");
  REQUIRE(format_tick(3, {2, 3, 4}) == "3");
  REQUIRE(format_tick(0.6000000000000001, nice_ticks(0, 1, 6)) == "0.6");
  REQUIRE(format_tick(2e-5, {1e-5, 2e-5}) == "2e-05");
}

TEST_CASE("colorbar runs from the top colour to the bottom colour", "[data][png]") {
  Image bar = colorbar(0.0, 1.0, 100);
  const int half_line = Image::text_height("0") / 2;
  REQUIRE(bar.pixel(8, half_line + 1) == viridis(1.0 - 1.0 / 99));
  REQUIRE(bar.pixel(8, half_line + 98) == viridis(1.0 / 99));
  REQUIRE(bar.width > 16 + Image::text_width("0.8"));  // room for the tick labels
}

TEST_CASE("line_plot puts its legend where it hides no curve", "[data][plot]") {
  // Accuracy rises to the top right, where a fixed legend would sit on the last epochs.
  std::vector<double> train, val;
  for (int epoch = 1; epoch <= 20; ++epoch) {
    train.push_back(0.9 - 0.5 * std::exp(-0.2 * epoch));
    val.push_back(0.85 - 0.5 * std::exp(-0.2 * epoch));
  }
  Image named = line_plot({{"train", train}, {"validation", val}}, "accuracy", "epoch", "fraction correct");
  Image unnamed = line_plot({{"", train}, {"", val}}, "accuracy", "epoch", "fraction correct");  // no legend
  int curve_pixels = 0, hidden = 0;
  for (int y = 0; y < named.height; ++y)
    for (int x = 0; x < named.width; ++x)
      for (int series = 0; series < 2; ++series)
        if (unnamed.pixel(x, y) == palette(series)) {
          ++curve_pixels;
          hidden += named.pixel(x, y) != palette(series);
        }
  REQUIRE(curve_pixels > 1000);
  REQUIRE(hidden == 0);
  // The legend is there all the same: its frame (gray) appears only in the named plot.
  int frame_pixels = 0;
  for (int y = 0; y < named.height; ++y)
    for (int x = 0; x < named.width; ++x) frame_pixels += named.pixel(x, y) == kGray && unnamed.pixel(x, y) != kGray;
  REQUIRE(frame_pixels > 100);
}

TEST_CASE("line_plot draws each series in its colour with axes and legend", "[data][plot]") {
  std::vector<double> train, val;
  for (int epoch = 1; epoch <= 20; ++epoch) {
    train.push_back(2.3 * std::exp(-0.15 * epoch) + 0.1);
    val.push_back(2.3 * std::exp(-0.12 * epoch) + 0.25 + 0.02 * std::sin(epoch));
  }
  Image plot = line_plot({{"train", train}, {"validation", val}}, "Loss per epoch", "epoch", "cross-entropy");
  REQUIRE(plot.width == 800);
  REQUIRE(plot.height == 500);
  int train_pixels = 0, val_pixels = 0, black = 0;
  for (int y = 0; y < plot.height; ++y)
    for (int x = 0; x < plot.width; ++x) {
      train_pixels += plot.pixel(x, y) == palette(0);
      val_pixels += plot.pixel(x, y) == palette(1);
      black += plot.pixel(x, y) == kBlack;
    }
  REQUIRE(train_pixels > 500);
  REQUIRE(val_pixels > 500);
  REQUIRE(black > 2000);  // frame, ticks and text
  plot.save_png(output_dir() / "line_plot.png");

  // A log axis, a series with its own x values, and a gap for a diverged value.
  Image log_plot = line_plot({{"lr 0.1", {1.0, 0.1, 0.01, NAN, 0.001}, {0, 100, 200, 300, 400}}}, "log scale", "step",
                             "loss", {.width = 500, .height = 350, .log_y = true});
  log_plot.save_png(output_dir() / "line_plot_log.png");
  REQUIRE(log_plot.width == 500);
  REQUIRE_THROWS_WITH(line_plot({{"bad", {1, 2}, {1}}}, "", "", ""),
                      Catch::Contains("series 'bad' has 1 x values and 2 y values"));
  REQUIRE_THROWS_WITH(line_plot({}, "", "", ""), Catch::Contains("no series"));
}

TEST_CASE("matrix_plot colours cells by value and writes the values", "[data][plot]") {
  const std::vector<std::string> classes{"airplane", "automobile", "bird", "cat"};
  Tensor confusion = from_vector(std::vector<float>{90, 5, 3, 2, 4, 80, 6, 10, 1, 2, 85, 12, 0, 9, 30, 61}, {4, 4});
  Image plot = matrix_plot(confusion, classes, classes, "Confusion matrix",
                           {.row_axis = "true class", .col_axis = "predicted class"});
  plot.save_png(output_dir() / "confusion_matrix.png");
  // The brightest colour (the largest count) and the darkest both appear.
  bool has_top = false, has_bottom = false;
  for (int y = 0; y < plot.height; ++y)
    for (int x = 0; x < plot.width; ++x) {
      has_top = has_top || plot.pixel(x, y) == viridis(1.0);
      has_bottom = has_bottom || plot.pixel(x, y) == viridis(0.0);
    }
  REQUIRE(has_top);
  REQUIRE(has_bottom);
  // Values drawn: the same plot without them has fewer ink pixels in the cells.
  Image bare = matrix_plot(confusion, classes, classes, "Confusion matrix",
                           {.show_values = false, .row_axis = "true class", .col_axis = "predicted class"});
  REQUIRE(bare.width == plot.width);
  REQUIRE(bare.bytes != plot.bytes);

  // Attention alignment: tokens on both axes, weights in [0, 1].
  const std::vector<std::string> source{"je", "suis", "très", "content", "<eos>"};
  const std::vector<std::string> target{"i", "am", "very", "happy", "<eos>"};
  std::vector<float> weights;
  for (int t = 0; t < 5; ++t)
    for (int s = 0; s < 5; ++s) weights.push_back(t == s ? 0.7f : 0.075f);
  Image attention = matrix_plot(from_vector(weights, {5, 5}), target, source, "Attention",
                                {.row_axis = "output", .col_axis = "input", .min = 0.0, .max = 1.0});
  attention.save_png(output_dir() / "attention.png");

  // A full CIFAR-sized confusion matrix stays legible.
  const std::vector<std::string> cifar{"airplane", "automobile", "bird", "cat", "deer",
                                       "dog",      "frog",       "horse", "ship", "truck"};
  Tensor counts = zeros({10, 10});
  for (int r = 0; r < 10; ++r)
    for (int c = 0; c < 10; ++c) counts.set({r, c}, r == c ? 700 + 25 * r : (r * 7 + c * 3) % 40);
  Image large = matrix_plot(counts, cifar, cifar, "CIFAR-10 test set", {.row_axis = "true", .col_axis = "predicted"});
  REQUIRE(large.width < 1000);
  large.save_png(output_dir() / "confusion_matrix_10.png");

  REQUIRE_THROWS_WITH(matrix_plot(confusion, {"a"}, classes, ""),
                      Catch::Contains("matrix_plot: 1 row labels for a matrix of shape [4, 4]"));
  REQUIRE_THROWS_WITH(matrix_plot(zeros({2, 2, 2}), {}, {}, ""),
                      Catch::Contains("expected a [R, C] matrix, got [2, 2, 2]"));
}

TEST_CASE("image grids and attention overlays render (pictures to inspect)", "[data][png]") {
  // 16 small "images": colour gradients, scaled up 3x, in a 4x4 grid.
  std::vector<Image> tiles;
  for (int i = 0; i < 16; ++i) {
    Tensor t = zeros({3, 32, 32});
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        t.set({0, y, x}, x / 31.0);
        t.set({1, y, x}, y / 31.0);
        t.set({2, y, x}, i / 15.0);
      }
    Image tile = Image::from_tensor(t).scale(3);
    tile.draw_text(2, 2, "class " + std::to_string(i), kWhite);
    tiles.push_back(tile);
  }
  Image sheet = grid(tiles, 4, 4);
  REQUIRE(sheet.width == 4 * (96 + 4) + 4);
  sheet.save_png(output_dir() / "grid.png");

  Tensor heat = zeros({4, 4});
  heat.set({1, 2}, 1.0);
  heat.set({2, 2}, 0.5);
  overlay(tiles[3], heat, 0.6).save_png(output_dir() / "overlay.png");
  colorbar(-0.5, 2.5, 200, 16, 2).save_png(output_dir() / "colorbar.png");
}

TEST_CASE("matrix_plot shows a value that rounds to zero as 0, never -0.00", "[data][png]") {
  // −0 (a masked gradient: 0 · a negative number) and a tiny negative both print as 0.00.
  const std::vector<std::string> rows{"a", "b"}, cols{"x", "y"};
  auto plot = [&](double corner) {
    return matrix_plot(from_vector(std::vector<double>{corner, 0.5, -0.25, 1.0}, {2, 2}), rows, cols, "values");
  };
  REQUIRE(plot(-0.0).bytes == plot(0.0).bytes);
  REQUIRE(plot(-0.001).bytes != plot(0.0).bytes);  // its colour differs, but not its text: checked below
  Image negative = plot(-0.001), zero = plot(0.0);
  // The same text means the same pixels outside the cell colours: compare the value's ink only where
  // both images are black or white.
  int64_t differing_text = 0;
  for (size_t i = 0; i + 2 < zero.bytes.size(); i += 3) {
    auto grey = [&](const Image& img) { return img.bytes[i] == img.bytes[i + 1] && img.bytes[i + 1] == img.bytes[i + 2]; };
    if (grey(zero) && grey(negative) && zero.bytes[i] != negative.bytes[i]) ++differing_text;
  }
  REQUIRE(differing_text == 0);
}
