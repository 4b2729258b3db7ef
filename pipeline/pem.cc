#include "pipeline/pem.h"

#include <array>
#include <cstdint>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/text.h"

namespace certinbox::pipeline {
namespace {

constexpr std::string_view kBegin = "-----BEGIN ";
constexpr std::string_view kEnd = "-----END ";
constexpr std::string_view kDashes = "-----";

constexpr uint8_t kInvalid = 0xff;
constexpr uint8_t kSpace = 0xfe;
constexpr uint8_t kPad = 0xfd;

constexpr std::array<uint8_t, 256> MakeBase64Table() {
  std::array<uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  }
  for (char c : {' ', '\t', '\r', '\n', '\v', '\f'}) table[static_cast<uint8_t>(c)] = kSpace;
  table[static_cast<uint8_t>('=')] = kPad;
  return table;
}

constexpr std::array<uint8_t, 256> kBase64 = MakeBase64Table();

// Writes the decoded bytes of `body` to `out` (room for body.size() * 3 / 4 + 3 bytes);
// returns how many, or -1.
long DecodeInto(std::string_view body, unsigned char* out) {
  uint32_t group = 0;
  int filled = 0;  // sextets in `group`
  int pads = 0;
  long n = 0;
  for (char c : body) {
    uint8_t v = kBase64[static_cast<uint8_t>(c)];
    if (v == kSpace) continue;
    if (v == kInvalid) return -1;
    if (v == kPad) {
      ++pads;
      continue;
    }
    if (pads > 0) return -1;  // data after padding
    group = (group << 6) | v;
    if (++filled == 4) {
      out[n++] = static_cast<unsigned char>(group >> 16);
      out[n++] = static_cast<unsigned char>(group >> 8);
      out[n++] = static_cast<unsigned char>(group);
      group = 0;
      filled = 0;
    }
  }
  // A final partial group: 2 sextets hold one byte, 3 hold two. Padding is optional but,
  // when present, must complete the group.
  switch (filled) {
    case 0:
      if (pads != 0) return -1;
      break;
    case 2:
      if (pads != 0 && pads != 2) return -1;
      out[n++] = static_cast<unsigned char>(group >> 4);
      break;
    case 3:
      if (pads > 1) return -1;
      out[n++] = static_cast<unsigned char>(group >> 10);
      out[n++] = static_cast<unsigned char>(group >> 2);
      break;
    default:
      return -1;
  }
  return n;
}

template <class Buffer>
bool DecodeTo(std::string_view body, Buffer& out) {
  out.resize(body.size() / 4 * 3 + 3);
  long n = DecodeInto(body, reinterpret_cast<unsigned char*>(out.data()));
  if (n < 0) {
    out.resize(0);
    return false;
  }
  out.resize(static_cast<size_t>(n));
  return true;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Reads lines of a string_view; each line excludes its '\n'.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  bool Next(std::string_view& line, size_t& start) {
    if (pos_ >= text_.size()) return false;
    start = pos_;
    size_t nl = text_.find('\n', pos_);
    size_t end = nl == std::string_view::npos ? text_.size() : nl;
    line = text_.substr(pos_, end - pos_);
    pos_ = nl == std::string_view::npos ? text_.size() : nl + 1;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// "-----BEGIN X-----" -> "X"; "" when `line` is not such a line.
std::string_view MarkerLabel(std::string_view line, std::string_view marker) {
  line = TrimSpace(line);
  if (!line.starts_with(marker) || !line.ends_with(kDashes) ||
      line.size() < marker.size() + kDashes.size()) {
    return {};
  }
  return line.substr(marker.size(), line.size() - marker.size() - kDashes.size());
}

}  // namespace

bool LooksLikePem(std::string_view bytes) { return bytes.find(kBegin) != std::string_view::npos; }

base::Result<std::vector<PemBlock>> ScanPem(std::string_view bytes) {
  std::vector<PemBlock> blocks;
  LineReader lines(bytes);
  std::string_view line;
  size_t line_start = 0;
  while (lines.Next(line, line_start)) {
    std::string_view label = MarkerLabel(line, kBegin);
    if (label.empty()) continue;  // text outside blocks ("Bag Attributes", comments)
    PemBlock block;
    block.label = label;
    size_t block_start = line_start;
    size_t body_start = lines.pos();
    bool in_headers = true;
    bool ended = false;
    while (lines.Next(line, line_start)) {
      std::string_view trimmed = TrimSpace(line);
      if (trimmed.starts_with(kEnd)) {
        if (MarkerLabel(trimmed, kEnd) != label) {
          return base::Fail(base::code::kMalformedPem,
                            "the PEM block " +
                                base::Escape(base::Shorten(std::string(label), kMaxLabelEcho)) +
                                " ends with a different END line: " +
                                base::Escape(base::Shorten(std::string(trimmed), kMaxLabelEcho)));
        }
        block.body = bytes.substr(body_start, line_start - body_start);
        block.text = bytes.substr(block_start, lines.pos() - block_start);
        ended = true;
        break;
      }
      if (trimmed.starts_with(kBegin)) break;  // a BEGIN inside a block: the first never ended
      // RFC 1421 headers ("Proc-Type: 4,ENCRYPTED", "DEK-Info: ...") precede the base64 and
      // end with an empty line; base64 never contains ':'.
      if (in_headers && trimmed.find(':') != std::string_view::npos) {
        if (trimmed.starts_with("Proc-Type:") &&
            trimmed.find("ENCRYPTED") != std::string_view::npos) {
          block.encrypted = true;
        }
        body_start = lines.pos();
        continue;
      }
      in_headers = false;
    }
    if (!ended) {
      return base::Fail(base::code::kMalformedPem,
                        "the PEM block " +
                            base::Escape(base::Shorten(std::string(label), kMaxLabelEcho)) +
                            " has a BEGIN line but no matching END line: the file "
                            "is truncated or two files were mixed");
    }
    blocks.push_back(block);
  }
  return blocks;
}

bool DecodeBase64(std::string_view body, std::string& out) { return DecodeTo(body, out); }
bool DecodeBase64(std::string_view body, SecretBytes& out) { return DecodeTo(body, out); }

}  // namespace certinbox::pipeline
