"""PyTorch twin of examples/cifar10_attention's training recipe (recipe.{h,cpp}, main.cpp): trains
bench_cifar.py's AttentionNet (models.cpp's, layer for layer) on CIFAR-10 as the C++ does, so the
two can be raced to the same accuracies on the same CPU.

  data        the 50,000 training images in a random order from --seed (--limit N: its first N), a
              fresh shuffle every epoch, whole batches only (the C++ sampler's drop_last); per
              image a random crop of 32 after zero padding by 2 (in [0, 1] space, before the
              normalisation, as datasets/transforms.cpp's RandomCrop) and a horizontal flip with
              p 0.5, drawn for a whole batch at once; normalised by the CIFAR-10 mean and std
  whitening   the 2x2 patch-whitening filters from the first 5000 normalised training images
              (nn/init.cpp's patch_whitening_, eps 5e-4)
  loss        cross-entropy, label smoothing 0.2
  optimizer   SGD, Nesterov momentum 0.85, lr 11.5*B/(1024*(1 + 1/0.15)), weight decay 0.0153/11.5;
              batch-norm shifts at 64x the rate and 1/64 the decay (recipe.cpp's
              make_recipe_optimizer); the frozen whitening filters and batch-norm scales left out
  schedule    piecewise linear per step: 0.2 -> 1 at 23 % of the steps -> 0.07 at the end
  lookahead   every 5 steps, and before each epoch's evaluation, slow += (1 - d)(fast - slow),
              fast = slow, d = 0.95^5 (step/total)^3 (optim/lookahead.cpp)
  evaluation  the test set after every epoch (eval mode, batch 256, no augmentation), and at the end
              with recipe.cpp's test-time augmentation (flips x diagonal one-pixel reflected shifts: 10 views)

It prints one line per epoch and, last, one JSON line: test accuracy with and without test-time
augmentation, minutes to 80/85/90/94 % (recipe.cpp's time_to_accuracy: the summed seconds of the
epochs, training and evaluation, up to the first whose test accuracy reached it) and the wall time
from start to end, data loading included. scripts/bench-tta.sh runs it beside the C++ program.

Usage: ~/torch-venv/bin/python bench/torch/cifar_recipe.py [--preset default|quick] [--epochs N]
  [--batch-size B] [--seed S] [--threads T] [--channels-last] [--data DIR] [--limit N]
  [--test-limit N] [--no-tta]
"""
import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench_cifar import AttentionNet

# main.cpp's kMean and kStd: the CIFAR-10 training set's channel means and standard deviations.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


@dataclass
class Recipe:
    """recipe.h's Recipe, with recipe_preset's widths, epochs and batch size."""
    preset: str
    widths: tuple
    epochs: int
    batch_size: int = 512
    label_smoothing: float = 0.2
    momentum: float = 0.85
    lr_per_1024: float = 11.5
    weight_decay_per_1024: float = 0.0153
    bias_lr_scale: float = 64
    warmup_fraction: float = 0.23
    start_factor: float = 0.2
    end_factor: float = 0.07
    lookahead_every: int = 5
    translate: int = 2
    alternating_flip: bool = False
    test_time_augmentation: bool = True

    def learning_rate(self):
        """Recipe::learning_rate: SGD's rate for a mean loss over batch_size images, the step per
        1024 images divided by Nesterov momentum's gain 1 + 1/(1 - momentum)."""
        return self.lr_per_1024 * self.batch_size / (1024 * (1 + 1 / (1 - self.momentum)))

    def weight_decay(self):
        """Recipe::weight_decay: SGD's (coupled) weight decay, the same shrinking per 1024 images."""
        return self.weight_decay_per_1024 / self.lr_per_1024


def recipe_preset(name):
    """recipe.cpp's recipe_preset. focus's default fits its epochs to a 40-minute budget on the machine
    it runs on (22 on a 2-vCPU AVX-512 Xeon); the twin has no budget: scripts/bench-tta.sh passes it
    the epochs focus chose, and 22 is its default."""
    if name == "default":
        return Recipe(preset=name, widths=(32, 192, 192), epochs=22)
    if name == "quick":
        return Recipe(preset=name, widths=(32, 128, 128), epochs=3)
    raise ValueError(f"unknown preset {name!r}: expected default or quick")


# ---- data ----------------------------------------------------------------------------------------

def find_cifar(flag):
    """main.cpp's find_cifar: --data DIR, else $FOCUS_DATA/cifar-10-batches-bin, else
    data/cifar-10-batches-bin; a folder holding data_batch_1.bin or cifar-10-batches-bin/."""
    candidates = [flag] if flag else []
    if not flag:
        if os.environ.get("FOCUS_DATA"):
            candidates.append(os.path.join(os.environ["FOCUS_DATA"], "cifar-10-batches-bin"))
        candidates.append(os.path.join("data", "cifar-10-batches-bin"))
    for folder in candidates:
        for inner in (folder, os.path.join(folder, "cifar-10-batches-bin")):
            if os.path.isfile(os.path.join(inner, "data_batch_1.bin")):
                return inner
    raise SystemExit(f"CIFAR-10 not found (looked in {candidates[0]}). Download it with scripts/download-cifar10.sh "
                     "[dir], then pass --data DIR/cifar-10-batches-bin or set FOCUS_DATA to the folder holding "
                     "cifar-10-batches-bin/")


def read_cifar(folder, files):
    """The records of the binary batches (1 label byte, then 32x32 R, G and B planes), in file order:
    images uint8 [N, 3, 32, 32], labels int64 [N] (datasets/cifar10.cpp)."""
    records = []
    for name in files:
        with open(os.path.join(folder, name), "rb") as f:
            records.append(torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).reshape(-1, 1 + 3 * 32 * 32))
    records = torch.cat(records)
    return records[:, 1:].reshape(-1, 3, 32, 32).clone(), records[:, 0].long()


def normalize(images):
    """uint8 images [N, 3, H, W] -> floats: byte/255 (as datasets/cifar10.cpp), then data::Normalize."""
    x = images.float().div_(255)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


def augment(images, translate, generator, flip=None):
    """data::RandomCrop(32, translate), data::RandomHorizontalFlip(0.5), then normalize, for a whole
    uint8 batch [B, 3, 32, 32] at once: each image gets its own window origin in the zero-padded
    image and its own coin. The padding is 0 in [0, 1] space, so -mean/std once normalised.
    flip: which images to mirror (bool [B], for alternating flips) in place of the coins."""
    batch, channels, height, width = images.shape
    x = images
    if translate > 0:
        padded = F.pad(x, (translate, translate, translate, translate))  # zeros, still uint8
        top = torch.randint(0, 2 * translate + 1, (batch,), generator=generator)
        left = torch.randint(0, 2 * translate + 1, (batch,), generator=generator)
        rows = (top[:, None] + torch.arange(height))[:, None, :, None]  # [B, 1, H, 1]
        cols = (left[:, None] + torch.arange(width))[:, None, None, :]  # [B, 1, 1, W]
        x = padded[torch.arange(batch)[:, None, None, None], torch.arange(channels)[None, :, None, None], rows, cols]
    if flip is None:
        flip = torch.rand(batch, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return normalize(x)


def batches_per_epoch(n, batch_size):
    """How many batches epoch_batches gives."""
    return n // batch_size if n > batch_size else 1


def epoch_batches(n, batch_size, generator):
    """The batches of one epoch: a fresh permutation of the n training images cut into batches,
    the last partial one dropped when there is more than one batch (main.cpp's sampler:
    drop_last = n > batch size)."""
    order = torch.randperm(n, generator=generator)
    if n <= batch_size:
        return [order]
    return list(order[:n // batch_size * batch_size].split(batch_size))


# ---- the recipe's pieces -------------------------------------------------------------------------

@torch.no_grad()
def patch_whitening_(weight, images, eps=5e-4):
    """nn/init.cpp's patch_whitening_: the covariance E[p p^T] (not centred) of every k x k patch
    (stride 1) of `images` [N, C, H, W], in float64, with the patch in the weight's own order
    (channel, kernel row, kernel column); filter f = the eigenvector of the f-th largest eigenvalue
    divided by sqrt(eigenvalue + eps), filter C*k*k + f its negative."""
    _, channels, k, _ = weight.shape
    dim = channels * k * k
    covariance = torch.zeros(dim, dim, dtype=torch.float64)
    count = 0
    for chunk in images.split(500):  # unfold's patches of 5000 images at once would take 0.5 GB
        patches = F.unfold(chunk.double(), k).transpose(1, 2).reshape(-1, dim)  # unfold: (c, row, col)
        covariance += patches.T @ patches
        count += patches.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance / count)  # ascending
    filters = (eigenvectors / (eigenvalues.clamp(min=0) + eps).sqrt()).T.flip(0)  # rows, descending
    weight.copy_(torch.cat([filters, -filters]).reshape(weight.shape).to(weight.dtype))


def make_recipe_optimizer(model, recipe):
    """recipe.cpp's make_recipe_optimizer: Nesterov SGD over the parameters that train, the batch-norm
    shifts (".norm" in the name, ending in ".bias") at bias_lr_scale times the rate and 1/bias_lr_scale
    the weight decay (the same decay per step), the rest at the recipe's rate and decay."""
    rate, decay = recipe.learning_rate(), recipe.weight_decay()
    shifts, rest = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue  # the whitening filters and the batch-norm scales stay fixed
        (shifts if ".norm" in name and name.endswith(".bias") else rest).append(param)
    return torch.optim.SGD([{"params": rest},
                            {"params": shifts, "lr": rate * recipe.bias_lr_scale,
                             "weight_decay": decay / recipe.bias_lr_scale}],
                           lr=rate, momentum=recipe.momentum, weight_decay=decay, nesterov=True)


def make_recipe_schedule(optimizer, recipe, total_steps):
    """recipe.cpp's make_recipe_schedule as a LambdaLR, stepped once per batch: optim/scheduler.cpp's
    PiecewiseLinearLR through (0, 0.2), (peak, 1), (max(total, peak + 1), 0.07), peak =
    round(0.23 total) clamped to [1, total - 1]; flat outside the first and last points."""
    # llround: halves away from zero (Python's round would take them to even).
    peak = min(max(math.floor(recipe.warmup_fraction * total_steps + 0.5), 1), max(1, total_steps - 1))
    points = [(0, recipe.start_factor), (peak, 1.0), (max(total_steps, peak + 1), recipe.end_factor)]

    def factor_at(step):
        if step <= points[0][0]:
            return points[0][1]
        if step >= points[-1][0]:
            return points[-1][1]
        for (a_step, a_factor), (b_step, b_factor) in zip(points, points[1:]):
            if step < b_step:
                return a_factor + (b_factor - a_factor) * (step - a_step) / (b_step - a_step)
        return points[-1][1]

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor_at)


class Lookahead:
    """optim/lookahead.cpp's Lookahead: a slow copy of every parameter and every floating-point buffer
    (batch norm's running statistics; not its integer batch counter)."""

    def __init__(self, model):
        self.fast = list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]
        self.slow = [t.detach().clone() for t in self.fast]

    @torch.no_grad()
    def update(self, decay):
        """slow <- slow + (1 - decay)(fast - slow), then fast <- slow."""
        for fast, slow in zip(self.fast, self.slow):
            if decay < 1:
                slow.copy_(slow + (fast - slow) * (1 - decay))
            fast.copy_(slow)

    @staticmethod
    def scheduled_decay(step, total, base=0.95, every=5):
        """Lookahead::scheduled_decay: base^every (step/total)^3, the progress clamped to [0, 1]."""
        progress = min(max(step / total, 0.0), 1.0)
        return base ** every * progress ** 3


def shift_index(size, by):
    """recipe.cpp's shift_index: the index map of a one-pixel shift, edges reflected: by -1 reads
    [1, 0, 1, ..., size-2], +1 reads [1, 2, ..., size-1, size-2]."""
    index = (torch.arange(size) + by).abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def predict_logits(forward, images, test_time_augmentation):
    """recipe.cpp's predict_logits: without augmentation forward(images); with it, 1/3 the mean of the
    image's and its mirror's logits plus 1/6 that of each pair shifted one pixel diagonally (four
    shifts: up-left, down-right, up-right, down-left): ten views."""
    if not test_time_augmentation:
        return forward(images)
    h, w = images.shape[2], images.shape[3]

    def both(x):
        return (forward(x) + forward(x.flip(3))) * 0.5

    def shifted(rows_by, columns_by):
        return images.index_select(2, shift_index(h, rows_by)).index_select(3, shift_index(w, columns_by))

    diagonal = both(shifted(-1, -1)) + both(shifted(1, 1)) + both(shifted(-1, 1)) + both(shifted(1, -1))
    return both(images) / 3 + diagonal / 6


@torch.no_grad()
def evaluate(model, images, labels, test_time_augmentation, layout, batch_size=256):
    """main.cpp's evaluate: eval mode, batches of 256 normalised images; the mean cross-entropy (no
    label smoothing) and the fraction classified right."""
    model.eval()

    def forward(x):
        return model(x.contiguous(memory_format=layout))

    loss_sum, correct = 0.0, 0
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        logits = predict_logits(forward, x, test_time_augmentation)
        loss_sum += F.cross_entropy(logits, y).item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
    return loss_sum / len(labels), correct / len(labels)


def time_to_accuracy(epoch_seconds, accuracies, thresholds=(0.80, 0.85, 0.90, 0.94)):
    """recipe.cpp's time_to_accuracy: for each threshold, the minutes summed over the epochs up to the
    first whose test accuracy reached it (rounded to 0.01), or "not reached"."""
    result = {}
    for threshold in thresholds:
        value, elapsed = "not reached", 0.0
        for seconds, accuracy in zip(epoch_seconds, accuracies):
            elapsed += seconds
            if accuracy >= threshold:
                value = round(elapsed / 60, 2)
                break
        result[f"minutes_to_{round(100 * threshold)}"] = value
    return result


def minutes(seconds):
    return f"{seconds / 60:.1f} min"


# ---- the run -------------------------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description="PyTorch twin of cifar10_attention's recipe on CIFAR-10")
    parser.add_argument("--preset", default="default", choices=["default", "quick"],
                        help="recipe.cpp's presets: default (32/192/192, 22 epochs: focus fits them to 40 "
                             "minutes), quick (32/128/128, 3 epochs)")
    parser.add_argument("--epochs", type=int, default=0, help="training epochs (default: the preset's)")
    parser.add_argument("--widths", default="", help="stage widths STAGE1,STAGE2,STAGE3 (default: the preset's)")
    parser.add_argument("--flips", default="", choices=["", "random", "alternating"],
                        help="random: a coin per image and epoch; alternating: a random half mirrored in even "
                             "epochs, the other half in odd ones (default: the preset's)")
    parser.add_argument("--batch-size", type=int, default=0, help="images per step (default: the preset's 512)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--channels-last", action="store_true", help="model and images in torch.channels_last")
    parser.add_argument("--data", default="",
                        help="cifar-10-batches-bin folder (default: $FOCUS_DATA/cifar-10-batches-bin, then data/)")
    parser.add_argument("--limit", type=int, default=0, help="use only N training images (quick runs)")
    parser.add_argument("--test-limit", type=int, default=0, help="evaluate on only the first N test images")
    parser.add_argument("--no-tta", action="store_true", help="no test-time augmentation in the final test")
    args = parser.parse_args()
    for flag in ("epochs", "batch_size", "threads", "limit", "test_limit"):
        if getattr(args, flag) < 0 or (flag == "threads" and args.threads == 0):
            parser.error(f"--{flag.replace('_', '-')} must be positive")
    return args


def main():
    start = time.perf_counter()
    args = parse_args()
    torch.set_num_threads(args.threads)
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    recipe = recipe_preset(args.preset)
    if args.batch_size > 0:
        recipe.batch_size = args.batch_size
    recipe.test_time_augmentation = not args.no_tta
    epochs = args.epochs or recipe.epochs
    if args.widths:
        try:
            widths = tuple(int(w) for w in args.widths.split(","))
        except ValueError:
            widths = ()
        if len(widths) != 3 or not all(1 <= w <= 4096 for w in widths):
            sys.exit(f"--widths: expected three channel counts from 1 to 4096 as STAGE1,STAGE2,STAGE3, got '{args.widths}'")
        recipe.widths = widths
    if args.flips:
        recipe.alternating_flip = args.flips == "alternating"
    # Separate random streams, as the C++ keeps its split, shuffle and augmentation apart.
    split_gen, shuffle_gen, augment_gen = (torch.Generator().manual_seed(4 * args.seed + k) for k in range(3))
    # Alternating flips: each image's first-epoch coin, fixed for the run (data::alternating_flip).
    first_epoch_flip = torch.rand(50000, generator=torch.Generator().manual_seed(4 * args.seed + 3)) < 0.5
    torch.manual_seed(args.seed)  # the model's initial weights

    folder = find_cifar(args.data)
    train_images, train_labels = read_cifar(folder, [f"data_batch_{i}.bin" for i in range(1, 6)])
    test_images, test_labels = read_cifar(folder, ["test_batch.bin"])
    # random_split: the training images in a random order, --limit keeping its first N.
    order = torch.randperm(len(train_labels), generator=split_gen)
    if args.limit > 0:
        order = order[:args.limit]
    train_images, train_labels = train_images[order], train_labels[order]
    if args.test_limit > 0:  # the first N in file order
        test_images, test_labels = test_images[:args.test_limit], test_labels[:args.test_limit]
    test_images = normalize(test_images)
    n_train = len(train_labels)

    model = AttentionNet(recipe.widths)
    patch_whitening_(model.whiten.weight, normalize(train_images[:5000]))
    model = model.to(memory_format=layout)
    optimizer = make_recipe_optimizer(model, recipe)
    steps_per_epoch = batches_per_epoch(n_train, recipe.batch_size)
    total_steps = max(2, steps_per_epoch * epochs)
    schedule = make_recipe_schedule(optimizer, recipe, total_steps)
    lookahead = Lookahead(model)  # from the whitened fresh model, as main.cpp

    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"{torch.get_num_threads()} threads, {'channels_last' if args.channels_last else 'NCHW'}")
    print(f"AttentionNet {'/'.join(map(str, recipe.widths))}: {sum(p.numel() for p in model.parameters())} "
          f"parameters; {n_train} training, {len(test_labels)} test images; {steps_per_epoch} steps/epoch; "
          f"data in {folder}")
    print(f"recipe '{recipe.preset}': {epochs} epochs of batch {recipe.batch_size}, SGD-Nesterov lr "
          f"{recipe.learning_rate():.3g}, label smoothing {recipe.label_smoothing:g}, "
          f"{'alternating' if recipe.alternating_flip else 'random'} flips, test-time augmentation "
          f"{'on' if recipe.test_time_augmentation else 'off'}, seed {args.seed}", flush=True)

    progress = sys.stdout.isatty()  # a step counter on a terminal, overwritten by the epoch's line
    clear_line = "\r\033[K"
    step = 0
    epoch_seconds, accuracies = [], []
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for b, index in enumerate(epoch_batches(n_train, recipe.batch_size, shuffle_gen)):
            flip = first_epoch_flip[index] ^ (epoch % 2 == 1) if recipe.alternating_flip else None
            images = augment(train_images[index], recipe.translate, augment_gen, flip).contiguous(memory_format=layout)
            labels = train_labels[index]
            optimizer.zero_grad(set_to_none=True)
            logits = model(images)
            loss = F.cross_entropy(logits, labels, label_smoothing=recipe.label_smoothing)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % recipe.lookahead_every == 0:
                lookahead.update(Lookahead.scheduled_decay(step, total_steps))
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
            if progress:
                rate = seen / (time.perf_counter() - epoch_start)
                print(f"{clear_line}epoch {epoch + 1}/{epochs} step {b + 1}/{steps_per_epoch}: loss "
                      f"{loss_sum / seen:.4f} acc {100 * correct / seen:.2f}% {rate:.0f} img/s", end="", flush=True)
        train_seconds = time.perf_counter() - epoch_start
        # main.cpp's validate: one more Lookahead update, then the test set.
        lookahead.update(Lookahead.scheduled_decay(step, total_steps))
        test_loss, test_accuracy = evaluate(model, test_images, test_labels, False, layout)
        epoch_seconds.append(time.perf_counter() - epoch_start)
        accuracies.append(test_accuracy)
        elapsed = sum(epoch_seconds)
        eta = elapsed / (epoch + 1) * (epochs - epoch - 1)
        print(f"{clear_line if progress else ''}epoch {epoch + 1}/{epochs}: train loss {loss_sum / seen:.4f} acc "
              f"{100 * correct / seen:.2f}% | test loss {test_loss:.4f} acc {100 * test_accuracy:.2f}% | lr "
              f"{optimizer.param_groups[0]['lr']:.2e} | {epoch_seconds[-1]:.0f} s ({seen / train_seconds:.0f} img/s "
              f"training) | {minutes(elapsed)} so far, ETA {minutes(eta)}", flush=True)

    if recipe.test_time_augmentation:
        tta_start = time.perf_counter()
        _, final_accuracy = evaluate(model, test_images, test_labels, True, layout)
        print(f"test-time augmented: acc {100 * final_accuracy:.2f}% ({time.perf_counter() - tta_start:.0f} s)")
    else:
        final_accuracy = accuracies[-1]
    wall = time.perf_counter() - start
    print(f"test accuracy {100 * final_accuracy:.2f}% ({100 * accuracies[-1]:.2f}% without test-time "
          f"augmentation), {minutes(wall)} in all")
    summary = {"framework": "torch", "torch": torch.__version__, "preset": recipe.preset, "epochs": epochs,
               "seed": args.seed, "test_accuracy": round(final_accuracy, 4),
               "test_accuracy_no_tta": round(accuracies[-1], 4)}
    summary.update(time_to_accuracy(epoch_seconds, accuracies))
    summary["wall_seconds"] = round(wall, 1)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
