#pragma once
// Tensors as colour: heat maps, heat maps laid over pictures, and the colour bar that reads them.
#include "datasets/pictures/image.h"
#include "tensor/tensor.h"

namespace focus::pictures {

/// A [H, W] tensor as a viridis heat map, lowest value darkest; the range is the
/// tensor's own min and max.
Image heatmap(const Tensor& values);
/// Same with a fixed range (values outside are clamped), to compare maps.
Image heatmap(const Tensor& values, double min, double max);

/// Blends a heat map over a picture: `heat` [h, w] is upsampled bilinearly to
/// the picture's size, coloured with viridis over its own range, and mixed in
/// with weight alpha (0: picture only, 1: heat only). For attention maps.
Image overlay(const Image& image, const Tensor& heat, double alpha);
/// Blends an already coloured picture (resized bilinearly when sizes differ).
Image overlay(const Image& image, const Image& heat, double alpha);

/// A vertical colour bar for the range [min, max] (max at the top), `bar_width`
/// pixels wide and `height` high, with tick values written on its right.
Image colorbar(double min, double max, int height, int bar_width = 16, int text_scale = 1);

}  // namespace focus::pictures
