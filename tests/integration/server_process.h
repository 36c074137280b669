// infer-server as a separate process for the tests that attack it: its memory is measured on
// its own (/proc/<pid>/status), it can be signalled, and it may die without taking the test
// with it. Stdout and stderr (the server's log) are collected by a reader thread.
#ifndef PYNQ_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define PYNQ_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace pynq::testing {

// True in ASan and TSan builds, whose shadow memory and quarantines make RSS meaningless.
constexpr bool kSanitized =
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    true;
#else
    false;
#endif

// The RSS bound every attack test holds the server to (release builds): the default memory
// budget (64 MiB) plus the server's own working set (~25 MB with the zoo) and gRPC's buffers.
// docs/security.md states it.
constexpr int64_t kAttackRssBoundBytes = int64_t{128} << 20;

// Resident set size of process `pid` in bytes (VmRSS), or -1 when it cannot be read.
inline int64_t RssBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

class ServerProcess {
 public:
  // Starts `binary` with `args`. Call WaitForPorts() before using it.
  ServerProcess(const std::string& binary, const std::vector<std::string>& args) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(pipe_fds[1], STDOUT_FILENO);
      dup2(pipe_fds[1], STDERR_FILENO);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(pipe_fds[1]);
    reader_ = std::thread([this, fd = pipe_fds[0]] {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        log_.append(buf, static_cast<size_t>(n));
        changed_.notify_all();
      }
      close(fd);
      std::lock_guard<std::mutex> lock(mu_);
      eof_ = true;
      changed_.notify_all();
    });
  }

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  ~ServerProcess() {
    if (pid_ > 0 && !exit_status_) {
      kill(pid_, SIGKILL);
      Wait(std::chrono::seconds(10));
    }
    if (reader_.joinable()) reader_.join();
  }

  pid_t pid() const { return pid_; }

  // Waits for the start-up line naming the ports ("gRPC on port N, metrics on port M" or
  // "metrics on (off)"). False when the server exited or did not get there within `timeout`.
  bool WaitForPorts(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    constexpr char kGrpc[] = "gRPC on port ";
    constexpr char kMetrics[] = "metrics on ";
    std::unique_lock<std::mutex> lock(mu_);
    size_t at = std::string::npos;
    const bool found = changed_.wait_for(lock, timeout, [&] {
      at = log_.find(kGrpc);
      return (at != std::string::npos && log_.find('\n', at) != std::string::npos) || eof_;
    });
    if (!found || at == std::string::npos) return false;
    grpc_port_ = std::atoi(log_.c_str() + at + sizeof(kGrpc) - 1);
    const size_t metrics = log_.find(kMetrics, at);
    const char* m = log_.c_str() + metrics + sizeof(kMetrics) - 1;
    metrics_port_ = std::strncmp(m, "port ", 5) == 0 ? std::atoi(m + 5) : 0;
    return grpc_port_ > 0;
  }

  // Waits until the log holds `text`.
  bool WaitForLog(const std::string& text, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, timeout, [&] {
      return log_.find(text) != std::string::npos || eof_;
    }) && log_.find(text) != std::string::npos;
  }

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }

  std::string log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }

  // Waits for the process to exit; its wait status, or nullopt when it is still running after
  // `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    if (exit_status_) return exit_status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_status_ = status;
        return exit_status_;
      }
      if (r < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  void Signal(int signal_number) { kill(pid_, signal_number); }

  int64_t Rss() const { return RssBytes(pid_); }

 private:
  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::string log_;
  bool eof_ = false;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::optional<int> exit_status_;
};

// Expects `server`'s RSS under `bound` (release builds only) and prints it, `when` naming the
// moment.
inline void ExpectRssBelow(const ServerProcess& server, int64_t bound, const std::string& when) {
  if (kSanitized) return;
  const int64_t rss = server.Rss();
  EXPECT_GT(rss, 0);
  EXPECT_LT(rss, bound) << when << ": server RSS " << (rss >> 20) << " MiB";
  std::printf("[ rss ] %s: %lld MiB\n", when.c_str(), static_cast<long long>(rss >> 20));
}

// Samples a process's RSS every `period` from a thread and keeps the peak.
class RssSampler {
 public:
  RssSampler(pid_t pid, std::chrono::milliseconds period)
      : thread_([this, pid, period] {
          std::unique_lock<std::mutex> lock(mu_);
          while (!stop_) {
            const int64_t rss = RssBytes(pid);
            if (rss > peak_) peak_ = rss;
            cv_.wait_for(lock, period);
          }
        }) {}
  ~RssSampler() { Stop(); }
  // Stops sampling; the peak seen, in bytes.
  int64_t Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  int64_t peak_ = 0;
  std::thread thread_;
};

}  // namespace pynq::testing

#endif  // PYNQ_TESTS_INTEGRATION_SERVER_PROCESS_H_
