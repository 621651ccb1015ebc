// Test-time augmentation: fixed, deterministic variants of each input whose
// softmax probabilities are averaged with the original's at evaluation
// ([evaluation] tta, `cerebra eval --tta`). No torch here; the tensor side is
// framework/src/training/tta.h.
#pragma once

#include <string>
#include <vector>

namespace cerebra {

// The variant names, in the order they are documented: flip (left-right),
// flip_vertical, rotate+10 and rotate-10 (degrees, counter-clockwise as
// displayed for +), zoom+10 (the central 1/1.1 of the image enlarged).
const std::vector<std::string>& tta_variants();

// An Error for an unknown name (listing the known ones) or one listed twice.
void check_tta_names(const std::vector<std::string>& names);

// "flip,flip_vertical" as the command line writes it; "none" (or "") is no
// variant. An unknown or repeated name is an Error listing the known ones.
std::vector<std::string> parse_tta_list(const std::string& text);

}  // namespace cerebra
