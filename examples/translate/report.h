#pragma once
// Attention heat maps of the translator (the training-run kit draws the curves).
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace translate {

/// An alignment as a heat map: attention [output rows, source columns] with the output tokens
/// labelling the rows and the source tokens the columns (spaces shown as '_'). Its size is bounded
/// whatever the input (translator_limits.h): at most kMaxPictureTokens rows and columns (a larger
/// alignment is drawn in part, and the title says so), labels and title cut to a stated length,
/// control characters and bytes that are not UTF-8 shown as U+FFFD.
void save_attention_png(const std::filesystem::path& path, const focus::Tensor& attention,
                        const std::vector<std::string>& source_tokens, const std::vector<std::string>& output_tokens,
                        const std::string& title);

}  // namespace translate
