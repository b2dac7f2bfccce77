// Trains a CNN with attention on CIFAR-10 and leaves behind checkpoints, metrics
// and pictures of what it learned. The reusable pieces (layers, optimizers,
// checkpoints, progress bar, plots) live in the library; this file wires them up.
#include <CLI/CLI.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <filesystem>

#include "datasets/cifar10.h"
#include "datasets/data_root.h"
#include "datasets/dataloader.h"
#include "datasets/image_folder.h"
#include "datasets/subset.h"
#include "datasets/transforms.h"
#include "focus.h"
#include "models.h"
#include "nn/functional/loss.h"
#include "report.h"

using namespace focus;
namespace fs = std::filesystem;

namespace {

std::atomic<bool> interrupted{false};
void on_interrupt(int) { interrupted = true; }

struct Flags {
  std::string data, model = "attention", optimizer = "adam", device = "cpu", out, resume, eval, predict, checkpoint;
  int epochs = 30, batch_size = 128, threads = 2;
  double lr = -1, val_split = 0.1, weight_decay = 5e-4;
  bool augment = true;
  uint64_t seed = 0;
  int64_t limit = 0;
};

// The CIFAR-10 channel means and standard deviations of the training set.
const std::vector<double> kMean{0.4914, 0.4822, 0.4465};
const std::vector<double> kStd{0.2470, 0.2435, 0.2616};

using Loader = data::DataLoader<data::ImageExample, data::ImageBatch>;

fs::path find_cifar(const std::string& flag) {
  std::vector<fs::path> candidates;
  if (!flag.empty()) {
    candidates.push_back(flag);
  } else {
    if (data::has_data_root()) candidates.push_back(data::data_root() / "cifar-10-batches-bin");
    candidates.push_back("data/cifar-10-batches-bin");
  }
  for (const fs::path& p : candidates)
    if (fs::exists(p / "data_batch_1.bin") || fs::exists(p / "cifar-10-batches-bin" / "data_batch_1.bin")) return p;
  throw std::runtime_error(fmt::format(
      "CIFAR-10 not found (looked in {}). Download it with scripts/download-cifar10.sh [dir], then pass "
      "--data DIR/cifar-10-batches-bin or set FOCUS_DATA to the folder holding cifar-10-batches-bin/",
      candidates.front().string()));
}

// Evaluates `model` on every batch of `loader`: mean loss, accuracy, confusion matrix.
struct Evaluation {
  double loss = 0, accuracy = 0;
  optim::ConfusionMatrix confusion{10};
};

Evaluation evaluate(cifar::Classifier& model, const Loader& loader) {
  NoGradGuard no_grad;
  model.eval();
  Evaluation result;
  optim::RunningMean loss;
  for (data::ImageBatch& batch : loader.epoch(0)) {
    Tensor logits = model(batch.images);
    loss.add(nn::functional::cross_entropy(logits, batch.labels).item<double>(), batch.size());
    result.confusion.add(argmax(logits, 1), batch.labels);
  }
  result.loss = loss.mean();
  result.accuracy = result.confusion.accuracy();
  return result;
}

int run(const Flags& flags) {
  set_num_threads(flags.threads);
  if (flags.device != "cpu") Device::parse(flags.device);  // validates the name
  if (flags.device != "cpu" && !cuda::is_available())
    throw std::runtime_error(fmt::format("--device {}: this build has no usable CUDA device", flags.device));
  manual_seed(flags.seed);

  // ---- prediction on one image -------------------------------------------------------
  if (!flags.predict.empty()) {
    std::string checkpoint = !flags.checkpoint.empty() ? flags.checkpoint : flags.eval;
    if (checkpoint.empty()) throw std::runtime_error("--predict needs --checkpoint FILE (e.g. runs/.../best.safetensors)");
    auto info = cifar::read_model_name(checkpoint);
    auto model = cifar::make_model(info);
    nn::load(*model, checkpoint, /*strict=*/false);
    model->eval();
    cifar::predict_image(*model, flags.predict, kMean, kStd, fs::path(flags.predict).replace_extension(".attention.png"));
    return 0;
  }

  fs::path root = find_cifar(flags.data);
  auto train_full = std::make_shared<data::CIFAR10>(root, data::Split::Train);
  auto test_set = std::make_shared<data::CIFAR10>(root, data::Split::Test);
  const std::vector<std::string> class_names = train_full->class_names();

  data::Transform normalize = data::Normalize(kMean, kStd);
  data::DataLoaderOptions eval_options;
  eval_options.batch_size = 256;
  Loader test_loader(test_set, eval_options, data::collate_images);
  test_loader.set_transform(data::transform_images(normalize));

  auto model = cifar::make_model(flags.model);

  // ---- evaluation only ---------------------------------------------------------------------
  if (!flags.eval.empty()) {
    model = cifar::make_model(cifar::read_model_name(flags.eval));
    nn::load(*model, flags.eval, /*strict=*/false);
    Evaluation test = evaluate(*model, test_loader);
    cifar::print_test_report(test.accuracy, test.confusion, class_names);
    return 0;
  }

  // ---- training ---------------------------------------------------------------------------------
  int64_t n_train_total = flags.limit > 0 ? std::min<int64_t>(flags.limit, train_full->size()) : train_full->size();
  int64_t n_val = static_cast<int64_t>(std::llround(flags.val_split * static_cast<double>(n_train_total)));
  auto parts = data::random_split(train_full, {n_train_total - n_val, n_val, train_full->size() - n_train_total},
                                  flags.seed);
  std::shared_ptr<const data::Dataset<data::ImageExample>> train_set = parts[0], val_set = parts[1];

  data::DataLoaderOptions train_options;
  train_options.batch_size = flags.batch_size;
  train_options.shuffle = true;
  train_options.seed = flags.seed;
  train_options.drop_last = train_set->size() > flags.batch_size;
  Loader train_loader(train_set, train_options, data::collate_images);
  if (flags.augment && flags.model == "attention")
    train_loader.set_transform(data::transform_images(
        data::Compose({data::RandomCrop(32, 4), data::RandomHorizontalFlip(), normalize})));
  else
    train_loader.set_transform(data::transform_images(normalize));
  Loader val_loader(val_set, eval_options, data::collate_images);
  val_loader.set_transform(data::transform_images(normalize));

  // The seed model follows its documents (Adam 1e-4); ours trains faster with a warm-up + cosine schedule.
  double lr = flags.lr > 0 ? flags.lr : (flags.model == "seed" ? 1e-4 : 2e-3);
  std::unique_ptr<optim::Optimizer> optimizer;
  if (flags.optimizer == "adam") {
    optim::AdamOptions o;
    o.lr = lr;
    optimizer = flags.model == "seed" ? std::unique_ptr<optim::Optimizer>(new optim::Adam(optim::groups_of(*model), o))
                                      : std::unique_ptr<optim::Optimizer>(new optim::AdamW(optim::groups_of(*model), [&] {
                                          o.weight_decay = flags.weight_decay;
                                          return o;
                                        }()));
  } else if (flags.optimizer == "sgd") {
    optimizer = std::make_unique<optim::SGD>(optim::groups_of(*model),
                                             optim::SGDOptions{lr, 0.9, 0, flags.weight_decay, true});
  } else {
    throw std::invalid_argument(fmt::format("--optimizer {}: expected adam or sgd", flags.optimizer));
  }
  const int64_t steps_per_epoch = train_loader.num_batches(0);
  const int64_t total_steps = std::max<int64_t>(2, steps_per_epoch * flags.epochs);
  std::unique_ptr<optim::LRScheduler> schedule;
  if (flags.model == "seed")
    schedule = std::make_unique<optim::StepLR>(*optimizer, total_steps + 1, 1.0);  // constant, as documented
  else
    schedule = std::make_unique<optim::WarmupCosineLR>(*optimizer, std::min<int64_t>(steps_per_epoch, total_steps - 1),
                                                       total_steps, 0.1);

  Generator& gen = default_generator();
  optim::TrainingState state;
  state.metadata["model"] = flags.model;
  fs::path out = flags.out.empty() ? fs::path(fmt::format("runs/cifar10-{}-{:%Y%m%d-%H%M%S}", flags.model,
                                                          fmt::localtime(std::time(nullptr))))
                                   : fs::path(flags.out);
  if (!flags.resume.empty()) {
    state = optim::load_checkpoint(flags.resume, *model, *optimizer, schedule.get(), &gen);
    if (state.metadata["model"] != flags.model)
      throw std::runtime_error(fmt::format("--resume {}: the checkpoint is a '{}' model, not '{}'", flags.resume,
                                           state.metadata["model"], flags.model));
    if (flags.out.empty()) out = fs::path(flags.resume).parent_path();
    fmt::print("resumed from {} after epoch {}\n", flags.resume, state.epoch);
  }
  fs::create_directories(out);
  fmt::print("{}\n{} training, {} validation, {} test images; {} steps/epoch; output in {}\n", model->summary(),
             train_set->size(), val_set->size(), test_set->size(), steps_per_epoch, out.string());

  optim::CsvLog log((out / "metrics.csv").string(),
                    {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"});
  std::signal(SIGINT, on_interrupt);
  cifar::History history = cifar::read_history(out / "metrics.csv");
  auto run_start = std::chrono::steady_clock::now();
  double images_per_second = 0;
  for (int64_t epoch = state.epoch; epoch < flags.epochs; ++epoch) {
    model->train();
    optim::RunningMean loss;
    int64_t correct = 0, seen = 0, done = 0;
    optim::ProgressBar bar(steps_per_epoch, fmt::format("epoch {}/{}", epoch + 1, flags.epochs), "img");
    for (data::ImageBatch& batch : train_loader.epoch(epoch)) {
      optimizer->zero_grad();
      Tensor logits = (*model)(batch.images);
      Tensor batch_loss = nn::functional::cross_entropy(logits, batch.labels);
      batch_loss.backward();
      optimizer->step();
      schedule->step();
      ++state.global_step;
      loss.add(batch_loss.item<double>(), batch.size());
      correct += optim::count_correct(logits, batch.labels);
      seen += batch.size();
      bar.update(++done, batch.size(), {{"loss", loss.mean()}, {"acc%", double(correct) / double(seen)}});
      if (interrupted) break;
    }
    images_per_second = bar.items_per_second();
    if (interrupted) {
      bar.finish();
      optim::save_checkpoint((out / "last.safetensors").string(), *model, *optimizer, schedule.get(), &gen, state);
      fmt::print("interrupted: saved {} (epoch {} incomplete; --resume restarts it)\n",
                 (out / "last.safetensors").string(), epoch + 1);
      return 130;
    }
    Evaluation val = evaluate(*model, val_loader);
    double seconds = bar.elapsed_seconds();
    bar.finish(fmt::format("epoch {}/{}: train loss {:.4f} acc {:.2f}% | val loss {:.4f} acc {:.2f}% | lr {:.2e} | {:.0f} s, {:.0f} img/s",
                           epoch + 1, flags.epochs, loss.mean(), 100.0 * correct / seen, val.loss, 100 * val.accuracy,
                           optimizer->param_groups()[0].lr, seconds, images_per_second));
    log.write({{"epoch", double(epoch + 1)}, {"train_loss", loss.mean()}, {"train_acc", double(correct) / seen},
               {"val_loss", val.loss}, {"val_acc", val.accuracy}, {"lr", optimizer->param_groups()[0].lr},
               {"seconds", seconds}});
    history.add(loss.mean(), double(correct) / seen, val.loss, val.accuracy);
    state.epoch = epoch + 1;
    bool best = val.accuracy > state.best_metric || epoch == 0;
    if (best) state.best_metric = val.accuracy;
    optim::save_checkpoint((out / "last.safetensors").string(), *model, *optimizer, schedule.get(), &gen, state);
    if (best) optim::save_checkpoint((out / "best.safetensors").string(), *model, *optimizer, schedule.get(), &gen, state);
    cifar::save_curves(history, out / "curves.png");
  }

  // ---- the best checkpoint on the test set ------------------------------------------------------------
  if (fs::exists(out / "best.safetensors")) nn::load(*model, (out / "best.safetensors").string(), /*strict=*/false);
  Evaluation test = evaluate(*model, test_loader);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  cifar::print_test_report(test.accuracy, test.confusion, class_names);
  cifar::write_outputs(out, *model, test_loader, test.accuracy, test.confusion, class_names, kMean, kStd,
                       {{"model", flags.model}, {"epochs", std::to_string(state.epoch)},
                        {"seed", std::to_string(flags.seed)}, {"device", flags.device},
                        {"wall_seconds", fmt::format("{:.1f}", wall)},
                        {"images_per_second", fmt::format("{:.1f}", images_per_second)},
                        {"parameters", std::to_string(model->num_parameters())},
                        {"test_accuracy", fmt::format("{:.4f}", test.accuracy)}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"focus: train a CNN with attention on CIFAR-10"};
  Flags f;
  app.add_option("--data", f.data, "cifar-10-batches-bin folder (default: $FOCUS_DATA/cifar-10-batches-bin, then data/)");
  app.add_option("--model", f.model, "seed | attention")->check(CLI::IsMember({"seed", "attention"}));
  app.add_option("--epochs", f.epochs, "training epochs")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", f.batch_size, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", f.lr, "learning rate (default: 1e-4 seed, 2e-3 attention)");
  app.add_option("--optimizer", f.optimizer, "adam | sgd")->check(CLI::IsMember({"adam", "sgd"}));
  app.add_option("--val-split", f.val_split, "fraction of training images held out")->check(CLI::Range(0.0, 0.9));
  app.add_flag("--augment,!--no-augment", f.augment, "random crops and flips (attention model)");
  app.add_option("--seed", f.seed, "random seed");
  app.add_option("--threads", f.threads, "CPU threads")->check(CLI::PositiveNumber);
  app.add_option("--device", f.device, "cpu | cuda[:N]");
  app.add_option("--out", f.out, "output folder (default runs/cifar10-<model>-<time>)");
  app.add_option("--resume", f.resume, "continue training from a checkpoint (last.safetensors)");
  app.add_option("--eval", f.eval, "evaluate a checkpoint on the test set and exit");
  app.add_option("--predict", f.predict, "classify one PNG/JPEG image (needs --checkpoint)");
  app.add_option("--checkpoint", f.checkpoint, "checkpoint for --predict");
  app.add_option("--limit", f.limit, "use only N training images (quick runs)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    return run(f);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
