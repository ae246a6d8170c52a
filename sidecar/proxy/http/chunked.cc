// The chunked coding: a byte-at-a-time state machine (the data itself is copied in runs).
#include "sidecar/proxy/http/chunked.h"

#include <algorithm>
#include <cstdio>

namespace strait::proxy::http {
namespace {

Error bad(std::string why) { return make_error("bad_chunked_body", std::move(why)); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// Fields that frame, route or authenticate a message may not arrive as trailers (RFC 9110
// 6.5.1): dropped rather than merged.
bool allowed_trailer(std::string_view name) {
  for (std::string_view no : {"content-length", "transfer-encoding", "host", "content-type",
                              "content-encoding", "authorization", "cookie", "set-cookie", "te",
                              "trailer", "connection", "keep-alive", "upgrade", "expect"}) {
    if (name.size() == no.size() &&
        std::equal(name.begin(), name.end(), no.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<void> ChunkedDecoder::trailer_line(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return bad("a trailer line without a name");
  const std::string_view name = line.substr(0, colon);
  for (char c : name) {
    if (!token_char(static_cast<unsigned char>(c)))
      return bad("a trailer name that is not a token");
  }
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return bad("a control character in a trailer");
  }
  if (allowed_trailer(name)) trailers_.emplace_back(std::string(name), std::string(value));
  return {};
}

Result<std::size_t> ChunkedDecoder::feed(std::string_view in, std::string& data) {
  std::size_t i = 0;
  while (i < in.size() && state_ != State::kDone) {
    const char c = in[i];
    switch (state_) {
      case State::kSize: {
        const int v = hex_value(c);
        if (v >= 0) {
          if (++digits_ > 16) return bad("a chunk size of more than 16 hex digits");
          size_ = size_ * 16 + static_cast<std::uint64_t>(v);
          ++i;
          break;
        }
        if (digits_ == 0) return bad("a chunk without a size");
        if (c == ';') {
          state_ = State::kExtension;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return bad("junk after a chunk size");
        }
        line_bytes_ = static_cast<std::size_t>(digits_);
        ++i;
        break;
      }
      case State::kExtension:
        if (++line_bytes_ > max_line_) return bad("a chunk extension over the line limit");
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == '\n' || (static_cast<unsigned char>(c) < 0x20 && c != '\t')) {
          return bad("a control character in a chunk extension");
        }
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') return bad("a chunk size line not ended by CRLF");
        ++i;
        if (size_ == 0) {
          state_ = State::kTrailer;
        } else {
          left_ = size_;
          state_ = State::kData;
        }
        break;
      case State::kData: {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size() - i));
        data.append(in.substr(i, n));
        i += n;
        left_ -= n;
        if (left_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (c != '\r') return bad("chunk data longer than its size");
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') return bad("chunk data not ended by CRLF");
        state_ = State::kSize;
        size_ = 0;
        digits_ = 0;
        ++i;
        break;
      case State::kTrailer:
        if (++trailer_bytes_ > max_trailer_) return bad("trailers over their limit");
        ++i;
        if (c != '\n') {
          line_.push_back(c);
          break;
        }
        if (line_.empty() || line_.back() != '\r') return bad("a trailer line not ended by CRLF");
        line_.pop_back();
        if (line_.empty()) {
          state_ = State::kDone;
          break;
        }
        if (auto r = trailer_line(line_); !r) return r.error();
        line_.clear();
        break;
      case State::kDone:
        break;
    }
  }
  return i;
}

std::string encode_chunk(std::string_view data) {
  if (data.empty()) return {};
  char size[24];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out(size);
  out.append(data);
  out += "\r\n";
  return out;
}

std::string encode_last_chunk(const Fields& trailers) {
  std::string out = "0\r\n";
  for (const auto& [n, v] : trailers) out += n + ": " + v + "\r\n";
  return out + "\r\n";
}

}  // namespace strait::proxy::http
