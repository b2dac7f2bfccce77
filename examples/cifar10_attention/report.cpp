#include "report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "datasets/image_folder.h"
#include "datasets/pictures/heatmap.h"
#include "datasets/pictures/plot.h"
#include "nn/serialize.h"
#include "tensor/atomic_file.h"

namespace cifar {

using namespace focus;
namespace fs = std::filesystem;

const std::vector<std::string> kCifarClasses{"airplane", "automobile", "bird", "cat", "deer",
                                             "dog",      "frog",       "horse", "ship", "truck"};

namespace {
// The model name in a checkpoint's metadata, checked here, where the file is known: make_model's own
// message could not say which file.
std::string model_name_in(const nn::Metadata& meta, const std::string& checkpoint) {
  auto it = meta.find("user/model");
  if (it == meta.end())
    throw std::runtime_error(fmt::format("{}: not a CIFAR-10 training checkpoint (no model name in its metadata)", checkpoint));
  const std::vector<std::string>& names = model_names();
  if (std::find(names.begin(), names.end(), it->second) == names.end())
    throw std::runtime_error(fmt::format("{}: metadata 'model' is {:?}: expected one of {}", checkpoint,
                                         it->second.substr(0, 200), fmt::join(names, ", ")));
  return it->second;
}
}  // namespace

std::string read_model_name(const std::string& checkpoint) {
  return model_name_in(nn::load_safetensors(checkpoint).metadata, checkpoint);
}

std::optional<int> read_recorded_epochs(const std::string& checkpoint) {
  const nn::Metadata meta = nn::load_safetensors(checkpoint).metadata;
  auto it = meta.find("user/epochs");
  if (it == meta.end()) return std::nullopt;
  const std::string& text = it->second;
  const bool digits = !text.empty() && text.size() <= 6 && std::all_of(text.begin(), text.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
  const int epochs = digits ? std::stoi(text) : 0;
  if (epochs < 1)
    throw std::runtime_error(fmt::format("{}: metadata 'epochs' is {:?}: expected a whole number of epochs from 1",
                                         checkpoint, text.substr(0, 200)));
  return epochs;
}

std::shared_ptr<Classifier> make_model_for(const std::string& checkpoint) {
  // One read of the file for the name and the widths (the weights are loaded by the caller).
  nn::Metadata meta = nn::load_safetensors(checkpoint).metadata;
  const std::string name = model_name_in(meta, checkpoint);
  if (name != "attention") return make_model(name);
  AttentionNetWidths widths;
  if (auto it = meta.find("user/widths"); it != meta.end()) {
    const std::optional<AttentionNetWidths> recorded = parse_widths(it->second);
    if (!recorded)
      throw std::runtime_error(fmt::format("{}: metadata 'widths' is {:?}: expected three widths 1..4096 like 32,128,128",
                                           checkpoint, it->second.substr(0, 200)));
    widths = *recorded;
  }
  return std::make_shared<AttentionNet>(widths);
}

void print_test_report(double accuracy, const training::ConfusionMatrix& confusion,
                       const std::vector<std::string>& class_names) {
  fmt::print("\ntest accuracy: {:.2f}% ({} images)\n\n{:<12} {:>8}\n", 100 * accuracy, confusion.total(), "class",
             "accuracy");
  std::vector<double> per_class = confusion.per_class_accuracy();
  for (size_t c = 0; c < per_class.size(); ++c) fmt::print("{:<12} {:>7.2f}%\n", class_names[c], 100 * per_class[c]);
}

namespace {
// A normalised [3, H, W] image back to an RGB picture.
pictures::Image to_picture(const Tensor& normalized, const std::vector<double>& mean, const std::vector<double>& std) {
  Tensor image = normalized.detach().clone();
  for (int64_t c = 0; c < 3; ++c) {
    Tensor channel = image.select(0, c);
    channel.copy_(channel * std[c] + mean[c]);
  }
  return pictures::Image::from_tensor(clamp(image, 0.0, 1.0));
}
}  // namespace

void write_outputs(const fs::path& out, Classifier& model,
                   const data::DataLoader<data::ImageExample, data::ImageBatch>& test_loader, double accuracy,
                   const training::ConfusionMatrix& confusion, const std::vector<std::string>& class_names,
                   const std::vector<double>& mean, const std::vector<double>& std) {
  pictures::MatrixPlotOptions options;
  options.row_axis = "true class";
  options.col_axis = "predicted class";
  pictures::matrix_plot(confusion.to_tensor().to(kFloat32), class_names, class_names,
                    fmt::format("CIFAR-10 test confusion matrix ({:.2f}% correct)", 100 * accuracy), options)
      .save_png(out / "confusion_matrix.png");

  {
    std::ofstream text(out / "per_class.txt");
    std::vector<double> per_class = confusion.per_class_accuracy();
    text << fmt::format("{:<12} {:>8}\n", "class", "accuracy");
    for (size_t c = 0; c < per_class.size(); ++c) text << fmt::format("{:<12} {:>7.2f}%\n", class_names[c], 100 * per_class[c]);
  }

  write_attention_pictures(out, model, test_loader, class_names, mean, std);
}

AttentionStatistics attention_statistics(Classifier& model,
                                         const data::DataLoader<data::ImageExample, data::ImageBatch>& loader,
                                         int64_t classes) {
  NoGradGuard no_grad;
  model.eval();
  AttentionStatistics stats;
  Tensor sums;  // [classes, h, w] on the host
  std::vector<int64_t> counts(static_cast<size_t>(classes), 0);
  double centre_mass = 0;
  int64_t images = 0;
  for (data::ImageBatch& batch : loader.epoch(0)) {
    model(batch.images);
    Tensor maps = model.attention_map().to(kCPU).to(kFloat64);  // [B, h, w]
    const int64_t h = maps.size(1), w = maps.size(2);
    if (!sums.defined()) {
      sums = zeros({classes, h, w}, kFloat64);
      stats.centre = centre_region(h, w);
    }
    // Each map over its own total, so a map that does not sum to 1 (a sigmoid gate) still reads as a share.
    Tensor shares = maps / clamp(sum(maps, {1, 2}, true), 1e-30, 1e300);
    Tensor labels = batch.labels.to(kCPU);
    const auto& [top, left, rows, cols] = stats.centre;
    centre_mass += sum(shares.narrow(1, top, rows).narrow(2, left, cols)).item<double>();
    // Each image's map added to its class's row in one pass: sums[label_i, p] += shares[i, p].
    const int64_t n = shares.size(0);
    Tensor flat = shares.reshape({n, h * w});
    Tensor rows_of = labels.reshape({n, 1}).expand({n, h * w}).contiguous();
    sums = scatter_add(sums.reshape({classes, h * w}), 0, rows_of, flat).reshape({classes, h, w});
    for (int64_t label : labels.to_vector<int64_t>()) ++counts[static_cast<size_t>(label)];
    images += n;
  }
  if (images == 0) return stats;
  const auto& [top, left, rows, cols] = stats.centre;
  stats.images = images;
  stats.centre_share = centre_mass / static_cast<double>(images);
  stats.uniform_centre_share = static_cast<double>(rows * cols) / static_cast<double>(sums.size(1) * sums.size(2));
  for (int64_t c = 0; c < classes; ++c)
    if (counts[static_cast<size_t>(c)] > 0) sums.select(0, c).copy_(sums.select(0, c) / static_cast<double>(counts[c]));
  stats.class_means = sums;
  return stats;
}

std::array<int64_t, 4> centre_region(int64_t h, int64_t w) {
  // The middle ~43 % of each side (3 of 7 cells): where CIFAR-10's photographers put the object.
  const int64_t rows = std::max<int64_t>(1, (3 * h + 3) / 7), cols = std::max<int64_t>(1, (3 * w + 3) / 7);
  return {(h - rows) / 2, (w - cols) / 2, rows, cols};
}

namespace {
// A map [h, w] of shares scaled to "times uniform" (1 = every position the same), the unit of every
// attention picture: a cell at 3 draws three times its fair share.
Tensor times_uniform(const Tensor& shares) {
  return shares * static_cast<double>(shares.size(0) * shares.size(1)) / sum(shares).item<double>();
}
}  // namespace

void write_attention_pictures(const fs::path& out, Classifier& model,
                              const data::DataLoader<data::ImageExample, data::ImageBatch>& test_loader,
                              const std::vector<std::string>& class_names, const std::vector<double>& mean,
                              const std::vector<double>& std) {
  // Sixteen test images, each beside the same image under its attention map, with the map's own
  // colour scale: the maps differ in how peaked they are, and one shared scale would flatten most.
  {
    NoGradGuard no_grad;
    model.eval();
    auto it = test_loader.epoch(0).begin();
    data::ImageBatch& batch = *it;
    int64_t n = std::min<int64_t>(16, batch.size());
    Tensor images = batch.images.narrow(0, 0, n);
    Tensor predicted = argmax(model(images), 1).to(kCPU);
    Tensor maps = model.attention_map().to(kCPU).to(kFloat64);  // drawing reads pixels on the host
    images = images.to(kCPU);
    Tensor labels = batch.labels.to(kCPU);
    std::vector<pictures::Image> tiles;
    for (int64_t i = 0; i < n; ++i) {
      pictures::Image picture = to_picture(images.select(0, i), mean, std).scale(4);
      Tensor map = times_uniform(maps.select(0, i));
      const double low = amax(neg(map)).item<double>() * -1, high = amax(map).item<double>();
      pictures::Image overlay = pictures::overlay(picture, map, 0.6);
      pictures::Image bar = pictures::colorbar(low, high, picture.height, 8);
      pictures::Image tile(2 * picture.width + bar.width + 8, picture.height + 24, pictures::kWhite);
      tile.paste(picture, 0, 0);
      tile.paste(overlay, picture.width + 4, 0);
      tile.paste(bar, 2 * picture.width + 8, 0);
      int64_t truth = static_cast<int64_t>(labels.at({i})), guess = static_cast<int64_t>(predicted.at({i}));
      tile.draw_text(2, picture.height + 6, fmt::format("{} -> {}", class_names[truth], class_names[guess]),
                     truth == guess ? pictures::Color{0, 110, 0} : pictures::Color{180, 0, 0}, 1);
      tiles.push_back(tile);
    }
    pictures::Image body = pictures::grid(tiles, 4, 6);
    pictures::Image page(body.width, body.height + 20, pictures::kWhite);
    page.draw_text(4, 4, "attention weight per position, times uniform (1 = every position alike); each map on its own scale",
                   pictures::kBlack, 1);
    page.paste(body, 0, 20);
    page.save_png(out / "attention_maps.png");
  }

  // The mean attention of each class over the test set, on one shared scale, and how much of it
  // falls in the centre of the image.
  AttentionStatistics stats = attention_statistics(model, test_loader, static_cast<int64_t>(class_names.size()));
  if (stats.images == 0) return;
  std::vector<Tensor> class_maps;
  double high = 0, low = 1e300;
  for (int64_t c = 0; c < stats.class_means.size(0); ++c) {
    class_maps.push_back(times_uniform(stats.class_means.select(0, c)));
    high = std::max(high, amax(class_maps.back()).item<double>());
    low = std::min(low, -amax(neg(class_maps.back())).item<double>());
  }
  std::vector<pictures::Image> tiles;
  for (size_t c = 0; c < class_maps.size(); ++c) {
    pictures::Image map = pictures::heatmap(class_maps[c], low, high).scale(16);
    pictures::Image tile(map.width, map.height + 18, pictures::kWhite);
    tile.paste(map, 0, 0);
    tile.draw_text(2, map.height + 4, class_names[c], pictures::kBlack, 1);
    tiles.push_back(tile);
  }
  pictures::Image body = pictures::grid(tiles, 5, 6);
  pictures::Image bar = pictures::colorbar(low, high, body.height, 12);
  pictures::Image page(body.width + bar.width + 8, body.height + 36, pictures::kWhite);
  page.draw_text(4, 4, "mean attention per class on the test set, times uniform (one scale for all)", pictures::kBlack, 1);
  page.draw_text(4, 18,
                 fmt::format("centre {}x{} of {}x{}: {:.1f}% of the attention ({:.1f}% if uniform)", stats.centre[2],
                             stats.centre[3], stats.class_means.size(1), stats.class_means.size(2),
                             100 * stats.centre_share, 100 * stats.uniform_centre_share),
                 pictures::kBlack, 1);
  page.paste(body, 0, 36);
  page.paste(bar, body.width + 4, 36);
  page.save_png(out / "attention_by_class.png");
  AtomicFileWriter text(out / "attention.txt");
  text.write(fmt::format("test images: {}\ncentre region: rows {}..{}, columns {}..{} of a {}x{} map\n"
                         "attention in the centre: {:.4f} (uniform: {:.4f}, ratio {:.2f})\n",
                         stats.images, stats.centre[0], stats.centre[0] + stats.centre[2] - 1, stats.centre[1],
                         stats.centre[1] + stats.centre[3] - 1, stats.class_means.size(1), stats.class_means.size(2),
                         stats.centre_share, stats.uniform_centre_share, stats.centre_share / stats.uniform_centre_share));
  text.commit();
}

void predict_image(Classifier& model, const std::string& image_path, const std::vector<double>& mean,
                   const std::vector<double>& std, const fs::path& overlay_path) {
  NoGradGuard no_grad;
  Tensor image = data::load_image(image_path, 32);  // [3, 32, 32] in [0, 1]
  Tensor normalized = image.clone();
  for (int64_t c = 0; c < 3; ++c) {
    Tensor channel = normalized.select(0, c);
    channel.copy_((channel - mean[c]) / std[c]);
  }
  Tensor probabilities = softmax(model(normalized.unsqueeze(0)), 1).squeeze(0);
  std::vector<float> p = probabilities.to_vector<float>();
  std::vector<int> order(p.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  fmt::print("{}:\n", image_path);
  for (int r = 0; r < 3; ++r) fmt::print("  {:<12} {:6.2f}%\n", kCifarClasses[order[r]], 100 * p[order[r]]);
  pictures::Image picture = pictures::Image::from_tensor(image).scale(8);
  pictures::overlay(picture, model.attention_map().select(0, 0), 0.5).save_png(overlay_path);
  fmt::print("attention overlay: {}\n", overlay_path.string());
}

}  // namespace cifar
