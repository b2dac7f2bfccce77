// Trains a CNN with attention on CIFAR-10 and leaves behind checkpoints, metrics
// and pictures of what it learned. The reusable pieces (layers, optimizers,
// checkpoints, progress bar, plots) live in the library; this file wires them up.
//
// Data-parallel: `mpirun -np N cifar10_attention ...` runs N ranks, each training on its
// share of every global batch of N x --batch-size images (docs/distributed.md).
#include <CLI/CLI.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <new>
#include <numeric>
#include <optional>

#include "datasets/cifar10.h"
#include "datasets/data_root.h"
#include "datasets/dataloader.h"
#include "datasets/distributed_sampler.h"
#include "datasets/image_folder.h"
#include "datasets/subset.h"
#include "datasets/printable_text.h"
#include "datasets/transforms.h"
#include "focus.h"
#include "models.h"
#include "nn/functional/loss.h"
#include "nn/parallel/distributed_data_parallel.h"
#include "optim/lookahead.h"
#include "recipe.h"
#include "report.h"
#include "tensor/distributed/agreement.h"
#include "tensor/distributed/dist.h"

using namespace focus;
namespace fs = std::filesystem;

namespace {

struct Flags {
  std::string data, model = "attention", preset = "default", optimizer, device = "cpu", out, resume, eval, predict,
      checkpoint, widths, flips;
  int epochs = 0, batch_size = 0, threads = 2;  // 0: the preset's (attention) or the documents' (seed)
  double lr = -1, val_split = -1, weight_decay = 5e-4, time_budget = 0;  // val_split -1: 0 attention, 0.1 seed
  bool augment = true, overwrite = false, tta = true;
  std::vector<std::string> without;  // pieces of the recipe turned off (--without), for ablations
  uint64_t seed = 0;
  int64_t limit = 0, test_limit = 0;
  bool model_given = false;  // --model on the command line (a resumed run otherwise takes the checkpoint's)
};

// The CIFAR-10 channel means and standard deviations of the training set.
const std::vector<double> kMean{0.4914, 0.4822, 0.4465};
const std::vector<double> kStd{0.2470, 0.2435, 0.2616};

using Loader = data::DataLoader<data::ImageExample, data::ImageBatch>;
using ImageSet = std::shared_ptr<const data::Dataset<data::ImageExample>>;

// CLI::PositiveNumber's message quotes the largest double; this one says what is wanted.
const CLI::Validator kPositive(
    [](std::string& text) -> std::string {
      try {
        size_t used = 0;
        if (std::stod(text, &used) > 0 && used == text.size()) return "";
      } catch (const std::exception&) {
      }
      return fmt::format("expected a number greater than 0, got '{}'", text);
    },
    "POSITIVE");

fs::path find_cifar(const std::string& flag) {
  std::vector<fs::path> candidates;
  if (!flag.empty()) {
    candidates.push_back(flag);
  } else {
    if (data::has_data_root()) candidates.push_back(data::data_root() / "cifar-10-batches-bin");
    candidates.push_back("data/cifar-10-batches-bin");
  }
  // The error_code forms: a folder the system cannot look into (a name too long, say) is one without the data.
  std::error_code error;
  for (const fs::path& p : candidates)
    if (fs::exists(p / "data_batch_1.bin", error) || fs::exists(p / "cifar-10-batches-bin" / "data_batch_1.bin", error))
      return p;
  throw std::runtime_error(fmt::format(
      "CIFAR-10 not found (looked in {}). Download it with scripts/download-cifar10.sh [dir], then pass "
      "--data DIR/cifar-10-batches-bin or set FOCUS_DATA to the folder holding cifar-10-batches-bin/",
      candidates.front().string()));
}

// This rank's part of an evaluation set: on N ranks each evaluates a disjoint 1/N of it.
ImageSet evaluation_part(ImageSet set) {
  if (dist::world_size() == 1) return set;
  data::IndexRange part = data::evaluation_shard(set->size(), dist::rank(), dist::world_size());
  return std::make_shared<data::Subset<data::ImageExample>>(std::move(set), part.indices());
}

// Evaluates `model` on every batch of `loader`: mean loss, accuracy, confusion matrix. On N
// ranks the loader holds this rank's part, and the sums are added over the ranks, so every
// rank gets the result for the whole set.
struct Evaluation {
  double loss = 0, accuracy = 0;
  training::ConfusionMatrix confusion{10};
};

Evaluation evaluate(cifar::Classifier& model, const Loader& loader, bool test_time_augmentation = false) {
  NoGradGuard no_grad;
  model.eval();
  Evaluation result;
  Tensor loss_and_count = zeros({2}, kFloat64);  // summed loss, images
  double* sums = static_cast<double*>(loss_and_count.data_ptr());
  for (data::ImageBatch& batch : loader.epoch(0)) {
    Tensor logits = cifar::predict_logits(model, batch.images, test_time_augmentation);
    sums[0] += nn::functional::cross_entropy(logits, batch.labels).item<double>() * batch.size();
    sums[1] += batch.size();
    result.confusion.add(argmax(logits, 1), batch.labels);
  }
  if (dist::world_size() > 1) {
    dist::all_reduce(loss_and_count);
    Tensor counts = result.confusion.to_tensor();
    dist::all_reduce(counts);
    result.confusion = training::ConfusionMatrix(counts);
  }
  result.loss = sums[1] > 0 ? sums[0] / sums[1] : 0;
  result.accuracy = result.confusion.accuracy();
  return result;
}

int run(const Flags& flags) {
  const auto started = std::chrono::steady_clock::now();
  dist::init();  // under mpirun: this process is one rank of the job; otherwise a world of one
  const bool main_rank = dist::is_main();
  set_num_threads(flags.threads);
  const Device device = Device::parse_available(flags.device);
  manual_seed(flags.seed);

  // ---- prediction on one image -------------------------------------------------------
  if (!flags.predict.empty()) {
    if (dist::world_size() > 1) throw dist::JobError("--predict runs as one process, not under mpirun", 0);
    std::string checkpoint = !flags.checkpoint.empty() ? flags.checkpoint : flags.eval;
    if (checkpoint.empty()) throw std::runtime_error("--predict needs --checkpoint FILE (e.g. runs/.../best.safetensors)");
    auto model = cifar::make_model_for(checkpoint);
    training::load_model_weights(checkpoint, *model);
    model->eval();
    cifar::predict_image(*model, flags.predict, kMean, kStd, fs::path(flags.predict).replace_extension(".attention.png"));
    return 0;
  }

  fs::path root = find_cifar(flags.data);
  auto train_full = std::make_shared<data::CIFAR10>(root, data::Split::Train);
  auto test_full = std::make_shared<data::CIFAR10>(root, data::Split::Test);
  const std::vector<std::string> class_names = train_full->class_names();
  // --test-limit: the first N test images in file order (the test file interleaves the classes).
  std::vector<int64_t> test_indices(static_cast<size_t>(
      flags.test_limit > 0 ? std::min<int64_t>(flags.test_limit, test_full->size()) : test_full->size()));
  std::iota(test_indices.begin(), test_indices.end(), int64_t{0});
  ImageSet test_set = std::make_shared<data::Subset<data::ImageExample>>(test_full, std::move(test_indices));

  data::Transform normalize = data::Normalize(kMean, kStd);
  data::DataLoaderOptions eval_options;
  eval_options.batch_size = 256;
  eval_options.device = device;  // batches arrive on the model's device, copied by the loader's worker
  Loader test_loader(evaluation_part(test_set), eval_options, data::collate_images);
  test_loader.set_transform(data::transform_images(normalize));

  // ---- evaluation only ---------------------------------------------------------------------
  if (!flags.eval.empty()) {
    std::shared_ptr<cifar::Classifier> model;
    dist::on_every_rank([&] {
      model = cifar::make_model_for(flags.eval);
      training::load_model_weights(flags.eval, *model);
    });
    model->to(device);
    // As the training run's final test: with test-time augmentation for the attention model.
    const bool seed_checkpoint = std::dynamic_pointer_cast<cifar::SeedNet>(model) != nullptr;
    Evaluation test = evaluate(*model, test_loader, flags.tta && !seed_checkpoint);
    if (main_rank) cifar::print_test_report(test.accuracy, test.confusion, class_names);
    return 0;
  }

  // ---- training ---------------------------------------------------------------------------------
  // A resumed run continues the checkpoint's model; reading its name first also rejects an
  // unreadable file before anything is built or written.
  std::string model_name = flags.model;
  if (!flags.resume.empty())
    dist::on_every_rank([&] {
      model_name = cifar::read_model_name(training::resume_checkpoint_file(flags.resume).string());
      if (flags.model_given && model_name != flags.model)
        throw std::runtime_error(fmt::format("--resume {}: the checkpoint's model is '{}', not '{}' (--model)",
                                             flags.resume, model_name, flags.model));
    });
  const bool seed_model = model_name == "seed";
  // The attention model trains by its recipe (recipe.h); the seed model as its documents say.
  cifar::Recipe recipe = cifar::recipe_preset(flags.preset);
  if (flags.batch_size > 0) recipe.batch_size = flags.batch_size;
  recipe.test_time_augmentation = flags.tta && !seed_model;
  auto turned_off = [&](const std::string& piece) {
    return std::find(flags.without.begin(), flags.without.end(), piece) != flags.without.end();
  };
  if (turned_off("label-smoothing")) recipe.label_smoothing = 0;
  if (!flags.flips.empty()) {
    if (seed_model) throw std::invalid_argument("--flips sets the attention model's augmentation; the seed model has none");
    recipe.alternating_flip = flags.flips == "alternating";
  }
  if (!flags.widths.empty()) {
    if (seed_model) throw std::invalid_argument("--widths sets the attention model's stages; the seed model has none");
    const std::optional<cifar::AttentionNetWidths> widths = cifar::parse_widths(flags.widths);
    if (!widths)
      throw std::invalid_argument(
          fmt::format("--widths: expected three channel counts from 1 to 4096 as STAGE1,STAGE2,STAGE3 (e.g. "
                      "32,160,160), got '{}'",
                      flags.widths));
    recipe.widths = *widths;
  }
  std::shared_ptr<cifar::Classifier> model;
  if (!flags.resume.empty()) {  // the checkpoint's own shape, whatever the preset says
    dist::on_every_rank([&] { model = cifar::make_model_for(training::resume_checkpoint_file(flags.resume).string()); });
    if (auto net = std::dynamic_pointer_cast<cifar::AttentionNet>(model)) {
      if (!flags.widths.empty() && net->widths != recipe.widths)
        throw std::invalid_argument(fmt::format("--resume {}: the checkpoint's widths are {}, not {} (--widths)",
                                                flags.resume, cifar::widths_text(net->widths), flags.widths));
      recipe.widths = net->widths;
    }
  } else {
    model = seed_model ? cifar::make_model(model_name) : std::make_shared<cifar::AttentionNet>(recipe.widths);
  }
  // Without whitening the first layer is an ordinary convolution: its default initialisation, trained.
  auto* attention_net = dynamic_cast<cifar::AttentionNet*>(model.get());
  if (attention_net && turned_off("whitening")) {
    attention_net->whiten->weight.requires_grad_(true);
    attention_net->whiten->bias.requires_grad_(true);
  }
  model->to(device);  // before the optimizer, whose state then lives beside the parameters
  // Every rank built the same initial weights from the seed; DDP checks that the ranks hold the same
  // model, copies rank 0's weights everywhere, and averages the gradients during backward. Then each
  // rank draws its own dropout masks, as the images of one batch would.
  nn::DistributedDataParallel ddp(*model);
  if (dist::world_size() > 1) manual_seed(flags.seed + 1000003 * static_cast<uint64_t>(dist::rank()));
  // The recipe trains on all 50,000 training images and follows the test set epoch by epoch; the
  // seed model holds out a tenth for validation, as before.
  const double val_split = flags.val_split >= 0 ? flags.val_split : (seed_model ? 0.1 : 0.0);
  int64_t n_train_total = flags.limit > 0 ? std::min<int64_t>(flags.limit, train_full->size()) : train_full->size();
  int64_t n_val = static_cast<int64_t>(std::llround(val_split * static_cast<double>(n_train_total)));
  auto parts = data::random_split(train_full, {n_train_total - n_val, n_val, train_full->size() - n_train_total},
                                  flags.seed);
  ImageSet train_set = parts[0], val_set = parts[1];

  // The seed model follows its documents (batch 32). On N ranks this is each rank's batch: a step
  // trains on N times as many images.
  const int64_t batch_size = seed_model ? (flags.batch_size > 0 ? flags.batch_size : 32) : recipe.batch_size;
  const int64_t global_batch = batch_size * dist::world_size();
  // Every rank shuffles the same order from the seed and takes every N-th image of it; on one
  // process that is the plain shuffled DataLoader.
  data::DistributedSamplerOptions sampling;
  sampling.rank = dist::rank();
  sampling.world_size = dist::world_size();
  sampling.seed = flags.seed;
  sampling.drop_last = train_set->size() > global_batch;
  data::DataLoaderOptions train_options;
  train_options.seed = flags.seed;  // the augmentations of image i: the same on every rank count
  train_options.device = device;
  Loader train_loader(train_set, data::make_distributed_batch_sampler(train_set->size(), batch_size, sampling),
                      data::collate_images, train_options);
  // Shift, flip (a coin from the example's generator, or alternating: data::alternating_flip), normalise.
  if (flags.augment && !seed_model)
    train_loader.set_transform([crop = data::RandomCrop(32, recipe.translate), coin = data::RandomHorizontalFlip(),
                                alternating = recipe.alternating_flip, normalize](
                                   data::ImageExample&& example, Generator& gen, const data::ExamplePosition& at) {
      Tensor image = crop(example.image, gen);
      if (!alternating)
        image = coin(image, gen);
      else if (data::alternating_flip(at))
        image = data::horizontal_flip(image);
      example.image = normalize(image, gen);
      return std::move(example);
    });
  else
    train_loader.set_transform(data::transform_images(normalize));
  Loader val_loader(evaluation_part(val_set), eval_options, data::collate_images);
  val_loader.set_transform(data::transform_images(normalize));

  // The optimizer: the recipe's Nesterov SGD for the attention model; the seed model's documents use
  // Adam 1e-4 at a constant rate. On N ranks the seed model's rate grows with the global batch
  // (by sqrt(N) for Adam, by N for SGD); the recipe's rate already follows its (global) batch size.
  const std::string optimizer_name = !flags.optimizer.empty() ? flags.optimizer : (seed_model ? "adam" : "sgd");
  const double batch_growth = static_cast<double>(dist::world_size());
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<optim::LRScheduler> schedule;
  if (!seed_model) recipe.batch_size = global_batch;  // the rate per 1024 images sees the whole step
  const int64_t steps_per_epoch = train_loader.num_batches(0);
  // The epochs: --epochs; on a resume, those the run was started for; else the time budget's
  // (--time-budget, or the preset's), else the preset's.
  if (!flags.resume.empty() && flags.time_budget > 0)
    throw std::invalid_argument("--time-budget picks a new run's epochs; a resume continues with the run's own "
                                "(--epochs changes them)");
  std::optional<int> recorded_epochs;
  if (!flags.resume.empty() && flags.epochs == 0)
    dist::on_every_rank(
        [&] { recorded_epochs = cifar::read_recorded_epochs(training::resume_checkpoint_file(flags.resume).string()); });
  const double time_budget = seed_model || flags.epochs > 0 || !flags.resume.empty()
                                 ? 0
                                 : (flags.time_budget > 0 ? flags.time_budget : recipe.time_budget);
  if (time_budget > 0) {
    const double step_seconds = cifar::measure_step_seconds(recipe.widths, batch_size, device);
    const double eval_image_seconds = cifar::measure_eval_image_seconds(recipe.widths, device);
    const int64_t eval_images = test_set->size() + val_set->size();
    recipe.epochs = cifar::epochs_for_budget(time_budget, step_seconds, steps_per_epoch, eval_image_seconds,
                                             eval_images, recipe.test_time_augmentation,
                                             // what loading, whitening and these measurements took, and the writing at the end
                                             std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() + 5);
    // Each rank timed its own steps; all train the fewest epochs any rank found to fit.
    if (dist::world_size() > 1)
      recipe.epochs = static_cast<int>(dist::all_reduce(static_cast<int64_t>(recipe.epochs), dist::ReduceOp::Min));
    // The estimate is printed so that a run can be checked against it: real epochs have measured
    // a few percent slower than these timed steps of a fresh copy (docs/cifar10-recipe.md).
    if (main_rank)
      fmt::print("time budget {:g} min{}: {} epochs fit, of about {:.0f} s each (pass --epochs {} to repeat this run)\n",
                 time_budget, flags.time_budget > 0 ? "" : fmt::format(" (preset '{}')", recipe.preset), recipe.epochs,
                 cifar::estimated_epoch_seconds(step_seconds, steps_per_epoch, eval_image_seconds, eval_images),
                 recipe.epochs);
  }
  const int epochs = flags.epochs > 0 ? flags.epochs : recorded_epochs ? *recorded_epochs : (seed_model ? 20 : recipe.epochs);
  const int64_t total_steps = std::max<int64_t>(2, steps_per_epoch * epochs);
  if (seed_model || optimizer_name == "adam") {
    double lr = flags.lr > 0 ? flags.lr
                             : (seed_model ? 1e-4 : 2e-3) * (optimizer_name == "sgd" ? batch_growth : std::sqrt(batch_growth));
    if (optimizer_name == "adam") {
      optim::AdamOptions o;
      o.lr = lr;
      optimizer = std::make_unique<optim::Adam>(optim::groups_of(*model), o);
    } else {
      optimizer = std::make_unique<optim::SGD>(optim::groups_of(*model),
                                               optim::SGDOptions{lr, 0.9, 0, flags.weight_decay, true});
    }
    schedule = std::make_unique<optim::StepLR>(*optimizer, total_steps + 1, 1.0);  // constant, as documented
  } else {
    auto& net = static_cast<cifar::AttentionNet&>(*model);
    optimizer = cifar::make_recipe_optimizer(net, recipe, flags.lr);
    schedule = cifar::make_recipe_schedule(*optimizer, recipe, total_steps);
  }

  // The whitening layer comes from the training images' own patches (a resume loads it instead).
  if (!seed_model && flags.resume.empty() && !turned_off("whitening")) {
    std::vector<Tensor> sample;
    Generator unused(0);  // Normalize draws nothing
    for (int64_t i = 0; i < std::min<int64_t>(5000, train_set->size()); ++i)
      sample.push_back(normalize(train_set->get(i).image, unused));
    static_cast<cifar::AttentionNet&>(*model).whiten_from(stack(sample, 0).to(device));
  }

  const bool validating = val_set->size() > 0;
  training::RunOptions run_options;
  run_options.out = flags.out.empty() && flags.resume.empty()
                        ? fs::path(fmt::format("runs/cifar10-{}-{:%Y%m%d-%H%M%S}", model_name,
                                               fmt::localtime(std::time(nullptr))))
                        : fs::path(flags.out);
  run_options.resume = flags.resume;
  run_options.overwrite = flags.overwrite;
  run_options.epochs = epochs;
  // With a validation split the best checkpoint is the best on it; without, best.safetensors follows
  // the test set, and the result reported is the last epoch's model either way (not chosen on test).
  run_options.best_metric = validating ? "val_acc" : "test_acc";
  run_options.better = training::Better::Higher;
  run_options.unit = "img";
  run_options.curves = {{"loss", "cross-entropy", {{"train", "train_loss"}, {"test", "test_loss"}}},
                        {"accuracy", "fraction correct", {{"train", "train_acc"}, {"test", "test_acc"}}}};
  if (validating) {
    run_options.curves[0].series.push_back({"validation", "val_loss"});
    run_options.curves[1].series.push_back({"validation", "val_acc"});
  }
  run_options.metadata["model"] = model_name;
  if (!seed_model) {
    run_options.metadata["preset"] = recipe.preset;
    if (!flags.without.empty()) run_options.metadata["without"] = fmt::format("{}", fmt::join(flags.without, ","));
    run_options.metadata["widths"] = cifar::widths_text(recipe.widths);
  }
  run_options.metadata["epochs"] = std::to_string(epochs);  // a resume without --epochs keeps the schedule
  training::TrainingRun run(run_options, *model, *optimizer, schedule.get());
  // Lookahead's slow weights start from the model as it is now: fresh, or as the checkpoint left it
  // (every epoch ends with an update, so the checkpoint holds the slow weights).
  std::optional<optim::Lookahead> lookahead;
  if (!seed_model && !turned_off("lookahead")) lookahead.emplace(*model);
  if (main_rank) {
    fmt::print("{}", config());
    fmt::print("{}\n{} training, {} validation, {} test images; {} steps/epoch; output in {}\n", model->summary(),
               train_set->size(), val_set->size(), test_set->size(), steps_per_epoch, run.folder().string());
    if (!seed_model)
      fmt::print("recipe '{}': widths {}/{}/{}, {} epochs of batch {}, SGD-Nesterov lr {:.3g}, label smoothing {:g}, "
                 "{} flips, test-time augmentation {}{}\n",
                 recipe.preset, recipe.widths.stage1, recipe.widths.stage2, recipe.widths.stage3, epochs, global_batch,
                 flags.lr > 0 ? flags.lr : recipe.learning_rate(), recipe.label_smoothing,
                 recipe.alternating_flip ? "alternating" : "random", recipe.test_time_augmentation ? "on" : "off",
                 flags.without.empty() ? "" : fmt::format(", without {}", fmt::join(flags.without, ", ")));
    if (dist::world_size() > 1)
      fmt::print("{} ranks x {} images = {} images per step\n", dist::world_size(), batch_size, global_batch);
  }

  const auto loss_options = nn::functional::CrossEntropyOptions().label_smoothing(seed_model ? 0.0 : recipe.label_smoothing);
  int64_t step_count = run.state().global_step;
  auto train_step = [&](data::ImageBatch& batch) {
    optimizer->zero_grad();
    Tensor logits = ddp(batch.images);
    Tensor loss = nn::functional::cross_entropy(logits, batch.labels, loss_options);
    loss.backward();  // on N ranks: returns with every gradient averaged over the ranks
    optimizer->step();
    schedule->step();
    ++step_count;
    if (lookahead && step_count % recipe.lookahead_every == 0)
      lookahead->update(optim::Lookahead::scheduled_decay(step_count, total_steps));
    const double correct = static_cast<double>(training::count_correct(logits, batch.labels));
    return training::StepReport{batch.size(), {{"loss", loss.item<double>()}, {"acc%", correct / batch.size()}}};
  };
  auto validate = [&](int64_t) {
    if (lookahead) lookahead->update(optim::Lookahead::scheduled_decay(step_count, total_steps));
    Evaluation test = evaluate(*model, test_loader);
    training::Validation result{{{"test_loss", test.loss}, {"test_acc%", test.accuracy}},
                                device.is_cuda() ? cuda::memory_summary(device.index) : ""};
    if (validating) {
      Evaluation val = evaluate(*model, val_loader);
      result.metrics.insert(result.metrics.begin(), {{"val_loss", val.loss}, {"val_acc%", val.accuracy}});
    }
    return result;
  };
  if (int status = run.fit(train_loader, train_step, validate); status != 0) return status;

  // ---- the final model on the test set --------------------------------------------------------------
  // The seed model reports its best epoch on the validation split; the recipe reports its last epoch,
  // with test-time augmentation.
  if (seed_model && validating) run.load_best();
  Evaluation test = evaluate(*model, test_loader, recipe.test_time_augmentation);
  if (main_rank) cifar::print_test_report(test.accuracy, test.confusion, class_names);
  // The pictures of attention come from the test set, which rank 0 reads whole for them.
  dist::on_main_rank([&] {
    cifar::write_outputs(run.folder(), *model, test_loader, test.accuracy, test.confusion, class_names, kMean, kStd);
  });
  std::map<std::string, std::string> summary{
      {"model", model_name},
      {"seed", std::to_string(flags.seed)},
      {"device", flags.device},
      {"images_per_second", fmt::format("{:.1f}", run.items_per_second())},
      {"global_batch", std::to_string(global_batch)},
      {"gpu_peak_mib", device.is_cuda()
                           ? fmt::format("{:.1f}", cuda::memory_stats(device.index).peak_allocated_bytes / 1048576.0)
                           : "0"},
      {"parameters", std::to_string(model->num_parameters())},
      {"test_images", std::to_string(test_set->size())},
      {"test_accuracy", fmt::format("{:.4f}", test.accuracy)},
      {"test_time_augmentation", recipe.test_time_augmentation ? "true" : "false"}};
  if (!seed_model) summary["preset"] = recipe.preset;
  if (time_budget > 0) summary["time_budget_minutes"] = fmt::format("{:g}", time_budget);
  if (main_rank)
    for (const auto& [key, value] : cifar::time_to_accuracy(run.metrics(), "test_acc", {0.80, 0.85, 0.90, 0.94}))
      summary[key] = value;
  run.write_summary(summary);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"focus: train a CNN with attention on CIFAR-10"};
  Flags f;
  app.add_option("--data", f.data, "cifar-10-batches-bin folder (default: $FOCUS_DATA/cifar-10-batches-bin, then data/)");
  CLI::Option* model = app.add_option("--model", f.model, "seed | attention (default attention; --resume: the checkpoint's)")
                           ->check(CLI::IsMember({"seed", "attention"}));
  app.add_option("--preset", f.preset,
                 "the attention model's recipe: default (stages 32/192/192, the epochs that fit 40 min: 90.5% on "
                 "a 2-core AVX-512 Xeon) | quick (about 82% in 8 min)")
      ->check(CLI::IsMember(cifar::preset_names()));
  app.add_option("--time-budget", f.time_budget,
                 "minutes of wall time: picks the epochs that fit this machine (the schedule follows them; "
                 "default: the preset's, 40 for default; --epochs overrides it)")
      ->check(kPositive);
  app.add_option("--widths", f.widths,
                 "the attention model's stage widths STAGE1,STAGE2,STAGE3 (default: the preset's, 32,192,192 or "
                 "32,128,128 for quick)");
  app.add_option("--epochs", f.epochs, "training epochs in all, counting those of a resumed checkpoint "
                                       "(default: the preset's time budget's, or 3 for quick; a resume: the run's; "
                                       "20 seed)")
      ->check(kPositive);
  app.add_option("--batch-size", f.batch_size, "images per step (default: the preset's 512; 32 seed)")->check(kPositive);
  app.add_option("--lr", f.lr, "peak learning rate (default: the recipe's; 1e-4 seed)")->check(kPositive);
  app.add_option("--optimizer", f.optimizer, "sgd (the recipe's Nesterov SGD) | adam (default: sgd; adam seed)")
      ->check(CLI::IsMember({"adam", "sgd"}));
  app.add_option("--without", f.without,
                 "turn a piece of the attention model's recipe off, to measure what it is worth: whitening | "
                 "lookahead | label-smoothing (repeatable; docs/cifar10-recipe.md)")
      ->check(CLI::IsMember({"whitening", "lookahead", "label-smoothing"}));
  app.add_flag("--tta,!--no-tta", f.tta, "test-time augmentation for the final test (attention model; default on)");
  app.add_option("--val-split", f.val_split, "fraction of training images held out (default: 0; 0.1 seed)")->check(CLI::Range(0.0, 0.9));
  app.add_flag("--augment,!--no-augment", f.augment, "random translations and flips (attention model)");
  app.add_option("--flips", f.flips,
                 "random: a coin per image and epoch | alternating: each image both ways in any two consecutive "
                 "epochs (default: the preset's)")
      ->check(CLI::IsMember({"random", "alternating"}));
  app.add_option("--seed", f.seed, "random seed");
  app.add_option("--threads", f.threads, "CPU threads")->check(kPositive);
  app.add_option("--device", f.device, "cpu | cuda[:N]");
  app.add_option("--out", f.out, "output folder (default runs/cifar10-<model>-<time>)");
  app.add_option("--resume", f.resume, "continue a run: its folder or a checkpoint (last.safetensors)");
  app.add_flag("--overwrite", f.overwrite, "start afresh in an --out folder that holds an earlier run");
  app.add_option("--eval", f.eval, "evaluate a checkpoint on the test set and exit");
  app.add_option("--predict", f.predict, "classify one PNG/JPEG image (needs --checkpoint)");
  app.add_option("--checkpoint", f.checkpoint, "checkpoint for --predict");
  app.add_option("--limit", f.limit, "use only N training images (quick runs)")->check(kPositive);
  app.add_option("--test-limit", f.test_limit,
                 "evaluate on only the first N test images (quick runs; give --eval the same N to reproduce)")
      ->check(kPositive);
  app.footer(
      "A default run (the attention model, --preset default: stages 32/192/192, batch 512, 2 threads, as many\n"
      "epochs as fit in 40 minutes here) ends within 40 minutes; on a 2-core AVX-512 Xeon that is 22 epochs and\n"
      "90.5% test accuracy. --preset quick takes about 8 minutes for about 82%; --model seed about 8 minutes for\n"
      "about 46%. docs/cifar10-recipe.md explains the recipe.\n"
      "Data-parallel: mpirun -np N cifar10_attention --threads T ... trains N ranks of T threads; --batch-size\n"
      "is per rank (a step sees N times as many images); the recipe's learning rate follows the global batch,\n"
      "the seed model's grows by sqrt(N) (Adam) or N (SGD). A resume needs the same N. See docs/distributed.md.");
  CLI11_PARSE(app, argc, argv);
  f.model_given = model->count() > 0;
  try {
    return run(f);
  } catch (const dist::JobError& e) {  // every rank stopped here together: one message, a clean exit
    if (dist::is_main()) fmt::print(stderr, "error: {}\n", data::error_text(e));
    return 1;
  } catch (const std::exception& e) {
    // One rank alone failed: the others would wait for it forever, so it ends the whole job.
    if (dist::world_size() > 1) dist::abort(fmt::format("error: {}", data::error_text(e)));
    fmt::print(stderr, "error: {}\n", data::error_text(e));
    return 1;
  }
}
