#include "report.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "datasets/image_folder.h"
#include "datasets/plot.h"
#include "datasets/png.h"
#include "nn/json.h"
#include "nn/serialize.h"

namespace cifar {

using namespace focus;
namespace fs = std::filesystem;

const std::vector<std::string> kCifarClasses{"airplane", "automobile", "bird", "cat", "deer",
                                             "dog",      "frog",       "horse", "ship", "truck"};

namespace {
// The numbers of one metrics.csv row; throws naming the file and line when a cell is not a number.
std::vector<double> parse_row(const fs::path& csv, int64_t line_number, const std::string& line) {
  std::vector<double> values;
  std::stringstream cells(line);
  for (std::string cell; std::getline(cells, cell, ',');) {
    size_t used = 0;
    double value = 0;
    try {
      value = std::stod(cell, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != cell.size())
      throw std::runtime_error(
          fmt::format("{} line {}: '{}' is not a number (a damaged metrics file?)", csv.string(), line_number, cell));
    values.push_back(value);
  }
  return values;
}
}  // namespace

History read_history(const fs::path& csv) {
  History h;
  std::ifstream in(csv);
  std::string line;
  if (!std::getline(in, line)) return h;  // no file yet, or only a header
  for (int64_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    std::vector<double> v = parse_row(csv, number, line);
    if (v.size() >= 5) h.add(v[1], v[2], v[3], v[4]);
  }
  return h;
}

void truncate_metrics(const fs::path& csv, int64_t epochs) {
  std::ifstream in(csv);
  std::string header, line, kept;
  if (!std::getline(in, header)) return;
  bool dropped = false;
  for (int64_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    if (parse_row(csv, number, line).front() <= static_cast<double>(epochs))
      kept += line + '\n';
    else
      dropped = true;
  }
  if (!dropped) return;
  in.close();
  // Written beside it, then renamed over it: a crash leaves the old file or the new, never half of one.
  const fs::path temporary = fs::path(csv).concat(".tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << header << '\n' << kept;
    if (!out.flush()) throw std::runtime_error(fmt::format("cannot write {}", temporary.string()));
  }
  fs::rename(temporary, csv);
}

void save_curves(const History& history, const fs::path& path) {
  data::Image loss = data::line_plot({{"train", history.train_loss}, {"validation", history.val_loss}},
                                     "loss", "epoch", "cross-entropy");
  data::Image accuracy = data::line_plot({{"train", history.train_acc}, {"validation", history.val_acc}},
                                         "accuracy", "epoch", "fraction correct");
  data::grid({loss, accuracy}, 2, 8).save_png(path);
}

std::string read_model_name(const std::string& checkpoint) {
  nn::Metadata meta = nn::load_safetensors(checkpoint).metadata;
  auto it = meta.find("user/model");
  if (it == meta.end())
    throw std::runtime_error(fmt::format("{}: not a CIFAR-10 training checkpoint (no model name in its metadata)", checkpoint));
  return it->second;
}

void print_test_report(double accuracy, const optim::ConfusionMatrix& confusion,
                       const std::vector<std::string>& class_names) {
  fmt::print("\ntest accuracy: {:.2f}% ({} images)\n\n{:<12} {:>8}\n", 100 * accuracy, confusion.total(), "class",
             "accuracy");
  std::vector<double> per_class = confusion.per_class_accuracy();
  for (size_t c = 0; c < per_class.size(); ++c) fmt::print("{:<12} {:>7.2f}%\n", class_names[c], 100 * per_class[c]);
}

namespace {
// A normalised [3, H, W] image back to an RGB picture.
data::Image to_picture(const Tensor& normalized, const std::vector<double>& mean, const std::vector<double>& std) {
  Tensor image = normalized.detach().clone();
  for (int64_t c = 0; c < 3; ++c) {
    Tensor channel = image.select(0, c);
    channel.copy_(channel * std[c] + mean[c]);
  }
  return data::Image::from_tensor(clamp(image, 0.0, 1.0));
}
}  // namespace

void write_outputs(const fs::path& out, Classifier& model,
                   const data::DataLoader<data::ImageExample, data::ImageBatch>& test_loader, double accuracy,
                   const optim::ConfusionMatrix& confusion, const std::vector<std::string>& class_names,
                   const std::vector<double>& mean, const std::vector<double>& std,
                   const std::map<std::string, std::string>& summary) {
  data::MatrixPlotOptions options;
  options.row_axis = "true class";
  options.col_axis = "predicted class";
  data::matrix_plot(confusion.to_tensor().to(kFloat32), class_names, class_names,
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
    std::vector<data::Image> tiles;
    for (int64_t i = 0; i < n; ++i) {
      data::Image picture = to_picture(images.select(0, i), mean, std).scale(4);
      data::Image overlay = data::overlay(picture, maps.select(0, i), 0.5);
      data::Image tile(2 * picture.width + 4, picture.height + 24, data::kWhite);
      tile.paste(picture, 0, 0);
      tile.paste(overlay, picture.width + 4, 0);
      int64_t truth = static_cast<int64_t>(labels.at({i})), guess = static_cast<int64_t>(predicted.at({i}));
      tile.draw_text(2, picture.height + 6, fmt::format("{} -> {}", class_names[truth], class_names[guess]),
                     truth == guess ? data::Color{0, 110, 0} : data::Color{180, 0, 0}, 1);
      tiles.push_back(tile);
    }
    data::grid(tiles, 4, 6).save_png(out / "attention_maps.png");
  }

  std::string json = "{\n";
  size_t k = 0;
  for (const auto& [key, value] : summary) {
    bool numeric = !value.empty() && value.find_first_not_of("0123456789.-e") == std::string::npos;
    json += fmt::format("  {}: {}{}\n", nn::json::quote(key), numeric ? value : nn::json::quote(value),
                        ++k < summary.size() ? "," : "");
  }
  json += "}\n";
  std::ofstream(out / "summary.json") << json;
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
  data::Image picture = data::Image::from_tensor(image).scale(8);
  data::overlay(picture, model.attention_map().select(0, 0), 0.5).save_png(overlay_path);
  fmt::print("attention overlay: {}\n", overlay_path.string());
}

}  // namespace cifar
