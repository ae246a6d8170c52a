// files::read_file: the whole content, or an io_error naming the file.
#include "core/base/files.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace strait::files {
namespace {

TEST(ReadFile, ReadsBinaryContentAndNamesAMissingFile) {
  const std::string path = ::testing::TempDir() + "strait-files-test-" + std::to_string(::getpid());
  const std::string data("a\0b\nc", 5);
  std::ofstream(path, std::ios::binary) << data;
  auto r = read_file(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, data);
  std::filesystem::remove(path);
  auto missing = read_file(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "io_error");
  EXPECT_NE(missing.error().message.find(path), std::string::npos);
}

}  // namespace
}  // namespace strait::files
