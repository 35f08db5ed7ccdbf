// ReadWholeFile: what every reader of a small file says when the path
// names nothing, a directory, a FIFO or too much.
#include "core/file_read.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace consentd {
namespace {

namespace fs = std::filesystem;

class ReadWholeFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/consentd-file-read-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ReadWholeFileTest, ReadsEveryByte) {
  const std::string bytes = std::string("key\0with\nbytes", 14) + std::string(70000, 'x');
  std::ofstream(dir_ / "k", std::ios::binary) << bytes;
  Result<std::string> r = ReadWholeFile((dir_ / "k").string(), "identity key");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, bytes);
}

TEST_F(ReadWholeFileTest, NamesWhatIsWrongWithThePathInItsOwnWords) {
  const std::string missing = (dir_ / "missing").string();
  Result<std::string> none = ReadWholeFile(missing, "identity key");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(none.status().message(), "no identity key at " + missing);

  Result<std::string> dir = ReadWholeFile(dir_.string(), "identity key");
  EXPECT_EQ(dir.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dir.status().message(),
            "identity key " + dir_.string() + " is a directory, not a file");

  // A FIFO is refused, not waited on.
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Result<std::string> pipe = ReadWholeFile(fifo, "payload");
  EXPECT_EQ(pipe.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pipe.status().message(), "payload " + fifo + " is not a regular file");

  // Given on a command line (`<(command)`), a stream is read to its end.
  std::thread writer([&] { std::ofstream(fifo, std::ios::binary) << "from a pipe"; });
  Result<std::string> piped = ReadWholeFile(fifo, "payload", 1 << 20, /*accept_streams=*/true);
  writer.join();
  ASSERT_TRUE(piped.ok()) << piped.status().ToString();
  EXPECT_EQ(*piped, "from a pipe");

  std::ofstream(dir_ / "big", std::ios::binary) << std::string(11, 'b');
  Result<std::string> big = ReadWholeFile((dir_ / "big").string(), "key file", 10);
  EXPECT_EQ(big.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(big.status().message().find("is 11 bytes, more than the 10"), std::string::npos)
      << big.status().message();
}

}  // namespace
}  // namespace consentd
