// Checkpoint directories (DESIGN §4.1): config.json + model.safetensors (fp32, [out, in]) + any
// extra files (tokenizer.json, optimizer and trainer state), written atomically as a whole
// directory.
#pragma once
#include <functional>
#include <map>
#include <string>

#include "model/model.h"

namespace np {

// Writes dir/ atomically: everything goes to a sibling temp directory which is then renamed into
// place (an existing dir is replaced only after the new one is complete).
void save_checkpoint(const std::string& dir, const Model<float>& model,
                     const std::map<std::string, std::string>& extra_files = {});

// Loads config.json (strictly validated) and model.safetensors: every tensor of the layout must be
// present with its exact shape; missing, unexpected or mis-shaped tensors are errors naming the
// file and the tensor.
Model<float> load_checkpoint(const std::string& dir);

// Writes `files` (name -> bytes) as directory `dir`, atomically as described above.
void write_directory_atomic(const std::string& dir,
                            const std::map<std::string, std::string>& files);

}  // namespace np
