#pragma once
// What a CIFAR-10 run shows and leaves behind: tables, curves, the confusion
// matrix, attention overlays, summary.json.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "datasets/dataloader.h"
#include "datasets/image_example.h"
#include "models.h"
#include "optim/metrics.h"

namespace cifar {

/// Per-epoch curves, read back from metrics.csv when a run resumes.
struct History {
  std::vector<double> train_loss, train_acc, val_loss, val_acc;
  void add(double tl, double ta, double vl, double va) {
    train_loss.push_back(tl), train_acc.push_back(ta), val_loss.push_back(vl), val_acc.push_back(va);
  }
};
History read_history(const std::filesystem::path& csv);
/// Drops the rows of metrics.csv after epoch `epochs` (a resumed run replaces them); no file, no change.
void truncate_metrics(const std::filesystem::path& csv, int64_t epochs);
/// Loss and accuracy per epoch, train vs validation, side by side.
void save_curves(const History& history, const std::filesystem::path& path);

/// The model name stored in a training checkpoint's metadata ("seed" or "attention").
std::string read_model_name(const std::string& checkpoint);

/// Test accuracy and a per-class table on the console.
void print_test_report(double accuracy, const focus::optim::ConfusionMatrix& confusion,
                       const std::vector<std::string>& class_names);

/// confusion_matrix.png, per_class.txt, attention_maps.png and summary.json in `out`.
void write_outputs(const std::filesystem::path& out, Classifier& model,
                   const focus::data::DataLoader<focus::data::ImageExample, focus::data::ImageBatch>& test_loader,
                   double accuracy, const focus::optim::ConfusionMatrix& confusion,
                   const std::vector<std::string>& class_names, const std::vector<double>& mean,
                   const std::vector<double>& std, const std::map<std::string, std::string>& summary);

/// Classifies one image file: prints the top-3 classes and writes an attention overlay PNG.
void predict_image(Classifier& model, const std::string& image_path, const std::vector<double>& mean,
                   const std::vector<double>& std, const std::filesystem::path& overlay_path);

}  // namespace cifar
