// The chunked transfer coding (RFC 9112 7.1), incrementally: ChunkedDecoder takes a body's
// bytes as they arrive and gives back the data and, at its end, the trailer fields; encode_*
// write it. Strict where leniency lets two parsers disagree (the root of request smuggling):
// hex sizes of at most 16 digits, CRLF only, bounded extensions and trailers. Pure, fuzzed alone
// (tests/fuzz/fuzz_chunked.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/result.h"
#include "sidecar/proxy/http/http1_head.h"

namespace strait::proxy::http {

class ChunkedDecoder {
 public:
  explicit ChunkedDecoder(std::size_t max_trailer_bytes = 8 * 1024,
                          std::size_t max_line_bytes = 4 * 1024)
      : max_trailer_(max_trailer_bytes), max_line_(max_line_bytes) {}

  // Consumes bytes from the start of `in` (all of them, unless the body ends within them),
  // appending the body's data to `data`. Returns how many bytes it consumed; error
  // bad_chunked_body (code) with what was wrong.
  Result<std::size_t> feed(std::string_view in, std::string& data);
  // The last chunk and the trailer section have been read.
  bool done() const { return state_ == State::kDone; }
  // Trailer fields, in order (fields that may not be trailers, such as Content-Length or Host,
  // are dropped).
  const Fields& trailers() const { return trailers_; }

 private:
  enum class State { kSize, kExtension, kSizeLf, kData, kDataCr, kDataLf, kTrailer, kDone };
  Result<void> trailer_line(std::string_view line);

  const std::size_t max_trailer_, max_line_;
  State state_ = State::kSize;
  std::uint64_t size_ = 0;
  int digits_ = 0;
  std::size_t line_bytes_ = 0;
  std::uint64_t left_ = 0;
  std::string line_;  // the trailer line being read
  std::size_t trailer_bytes_ = 0;
  Fields trailers_;
};

// One chunk of `data` (nothing for empty data: an empty chunk would end the body).
std::string encode_chunk(std::string_view data);
// The last chunk and the trailer section.
std::string encode_last_chunk(const Fields& trailers = {});

}  // namespace strait::proxy::http
