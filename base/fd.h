// Fd owns a POSIX file descriptor and closes it when it goes out of scope.
#pragma once

namespace certinbox::base {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(other.Release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it; the Fd is then empty.
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the descriptor (if any) and ignores what close() says.
  void Reset();
  // Closes the descriptor and returns close()'s result: it can report a failed write-back, and
  // the caller decides what that means. The Fd is empty afterwards.
  int Close();

 private:
  int fd_ = -1;
};

}  // namespace certinbox::base
