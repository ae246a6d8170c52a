// Reading a whole file into a string, with an error that names the file and the reason.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/base/result.h"

namespace strait::files {

// Error code io_error.
inline Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error("io_error", "cannot read " + path.string() + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error("io_error", "cannot read " + path.string());
  return ss.str();
}

}  // namespace strait::files
