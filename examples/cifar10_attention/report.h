#pragma once
// What a CIFAR-10 run shows and leaves behind besides what every run does: the test
// table, the confusion matrix, attention overlays.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "datasets/dataloader.h"
#include "datasets/image_example.h"
#include "models.h"
#include "optim/training/metrics.h"

namespace cifar {

/// The model name stored in a training checkpoint's metadata, one of model_names(); anything else
/// (no name, an unknown one) throws naming the file and the value, escaped.
std::string read_model_name(const std::string& checkpoint);

/// Test accuracy and a per-class table on the console.
void print_test_report(double accuracy, const focus::training::ConfusionMatrix& confusion,
                       const std::vector<std::string>& class_names);

/// confusion_matrix.png, per_class.txt and attention_maps.png in `out`.
void write_outputs(const std::filesystem::path& out, Classifier& model,
                   const focus::data::DataLoader<focus::data::ImageExample, focus::data::ImageBatch>& test_loader,
                   double accuracy, const focus::training::ConfusionMatrix& confusion,
                   const std::vector<std::string>& class_names, const std::vector<double>& mean,
                   const std::vector<double>& std);

/// Classifies one image file: prints the top-3 classes and writes an attention overlay PNG.
void predict_image(Classifier& model, const std::string& image_path, const std::vector<double>& mean,
                   const std::vector<double>& std, const std::filesystem::path& overlay_path);

}  // namespace cifar
