#include "translator_limits.h"

#include <fmt/format.h>

namespace translate::limits {

std::string limits_help() {
  return fmt::format(
      "Limits (train's flags and a checkpoint's metadata alike; a checkpoint's are checked, with the shapes of\n"
      "its tensors, before anything is allocated): --embed and --hidden at most {}, --layers at most {},\n"
      "vocabularies at most {} tokens each, {} parameters in all; --max-len at most {} tokens;\n"
      "--date-examples at most {}.\n"
      "translate run: a line of more than {} bytes is refused (reported by its number and length, then the\n"
      "next line is read; the exit status is 1); a sentence longer than the model was trained on is truncated\n"
      "to the tokens it reads, with a note. An attention picture draws at most {} x {} tokens; --beam is at\n"
      "most {}.",
      kMaxWidth, kMaxLayers, kMaxVocab, kMaxParameters, kMaxSentenceTokens, kMaxDateExamples, kMaxInputBytes,
      kMaxPictureTokens, kMaxPictureTokens, kMaxBeam);
}

}  // namespace translate::limits
