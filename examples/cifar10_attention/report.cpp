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

namespace cifar {

using namespace focus;
namespace fs = std::filesystem;

const std::vector<std::string> kCifarClasses{"airplane", "automobile", "bird", "cat", "deer",
                                             "dog",      "frog",       "horse", "ship", "truck"};

std::string read_model_name(const std::string& checkpoint) {
  nn::Metadata meta = nn::load_safetensors(checkpoint).metadata;
  auto it = meta.find("user/model");
  if (it == meta.end())
    throw std::runtime_error(fmt::format("{}: not a CIFAR-10 training checkpoint (no model name in its metadata)", checkpoint));
  // Checked here, where the file is known: make_model's own message could not say which file.
  const std::vector<std::string>& names = model_names();
  if (std::find(names.begin(), names.end(), it->second) == names.end())
    throw std::runtime_error(fmt::format("{}: metadata 'model' is {:?}: expected one of {}", checkpoint,
                                         it->second.substr(0, 200), fmt::join(names, ", ")));
  return it->second;
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

  // Sixteen test images, each beside the same image under its attention map.
  {
    NoGradGuard no_grad;
    model.eval();
    auto it = test_loader.epoch(0).begin();
    data::ImageBatch& batch = *it;
    int64_t n = std::min<int64_t>(16, batch.size());
    Tensor images = batch.images.narrow(0, 0, n);
    Tensor predicted = argmax(model(images), 1).to(kCPU);
    Tensor maps = model.attention_map().to(kCPU);  // drawing reads pixels on the host
    images = images.to(kCPU);
    Tensor labels = batch.labels.to(kCPU);
    std::vector<pictures::Image> tiles;
    for (int64_t i = 0; i < n; ++i) {
      pictures::Image picture = to_picture(images.select(0, i), mean, std).scale(4);
      pictures::Image overlay = pictures::overlay(picture, maps.select(0, i), 0.5);
      pictures::Image tile(2 * picture.width + 4, picture.height + 24, pictures::kWhite);
      tile.paste(picture, 0, 0);
      tile.paste(overlay, picture.width + 4, 0);
      int64_t truth = static_cast<int64_t>(labels.at({i})), guess = static_cast<int64_t>(predicted.at({i}));
      tile.draw_text(2, picture.height + 6, fmt::format("{} -> {}", class_names[truth], class_names[guess]),
                     truth == guess ? pictures::Color{0, 110, 0} : pictures::Color{180, 0, 0}, 1);
      tiles.push_back(tile);
    }
    pictures::grid(tiles, 4, 6).save_png(out / "attention_maps.png");
  }
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
