#pragma once
// Outputs are written atomically: to a temporary file beside the target,
// flushed, then renamed over it, so a reader (or a crash) never sees half a
// file. Throws InputError naming the path if it cannot be written.
#include <string>
#include <string_view>

namespace flowsense {

void write_file_atomically(const std::string& path, std::string_view contents);

/// mkdir -p; throws InputError naming the path on failure.
void create_directories(const std::string& path);

}  // namespace flowsense
