#pragma once
// What a CIFAR-10 run shows and leaves behind besides what every run does: the test
// table, the confusion matrix, attention overlays.
#include <array>
#include <filesystem>
#include <map>
#include <optional>
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

/// The total epochs a training checkpoint's run was started for (its metadata's "epochs"), or
/// nullopt for checkpoints written before it was recorded; a value that is not a positive whole
/// number throws naming the file and the value.
std::optional<int> read_recorded_epochs(const std::string& checkpoint);

/// The model a training checkpoint holds, built to its recorded shape (the attention model's stage
/// widths are in the metadata; older checkpoints without them get the default widths), weights not
/// yet loaded.
std::shared_ptr<Classifier> make_model_for(const std::string& checkpoint);

/// Test accuracy and a per-class table on the console.
void print_test_report(double accuracy, const focus::training::ConfusionMatrix& confusion,
                       const std::vector<std::string>& class_names);

/// confusion_matrix.png, per_class.txt and attention_maps.png in `out`.
void write_outputs(const std::filesystem::path& out, Classifier& model,
                   const focus::data::DataLoader<focus::data::ImageExample, focus::data::ImageBatch>& test_loader,
                   double accuracy, const focus::training::ConfusionMatrix& confusion,
                   const std::vector<std::string>& class_names, const std::vector<double>& mean,
                   const std::vector<double>& std);

/// What the attention maps of a test set say: the mean map of each class and the share of the
/// attention that falls in the centre of the image (where CIFAR-10's objects mostly are),
/// beside the share a uniform map would give.
struct AttentionStatistics {
  int64_t images = 0;
  focus::Tensor class_means;          ///< [classes, h, w], float64, each map a distribution (sums to 1)
  std::array<int64_t, 4> centre{};    ///< top, left, rows, columns of the centre region in map cells
  double centre_share = 0;            ///< mean share of attention inside the centre region
  double uniform_centre_share = 0;    ///< the same for a uniform map: the region's share of cells
};

/// The centre region of an [h, w] map: its middle 3/7 along each side (the middle 3×3 of 7×7).
std::array<int64_t, 4> centre_region(int64_t h, int64_t w);

/// One pass over `loader` (eval mode, no gradients), collecting AttentionStatistics.
AttentionStatistics attention_statistics(Classifier& model,
                                         const focus::data::DataLoader<focus::data::ImageExample, focus::data::ImageBatch>& loader,
                                         int64_t classes);

/// attention_maps.png (16 test images beside their maps, each on its own scale with its colour
/// bar), attention_by_class.png (each class's mean map on one scale) and attention.txt (the
/// centre share against uniform) in `out`.
void write_attention_pictures(const std::filesystem::path& out, Classifier& model,
                              const focus::data::DataLoader<focus::data::ImageExample, focus::data::ImageBatch>& test_loader,
                              const std::vector<std::string>& class_names, const std::vector<double>& mean,
                              const std::vector<double>& std);

/// Classifies one image file: prints the top-3 classes and writes an attention overlay PNG.
void predict_image(Classifier& model, const std::string& image_path, const std::vector<double>& mean,
                   const std::vector<double>& std, const std::filesystem::path& overlay_path);

}  // namespace cifar
