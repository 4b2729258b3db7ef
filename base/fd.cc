#include "base/fd.h"

#include <unistd.h>

namespace certinbox::base {

void Fd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int Fd::Close() {
  int rc = fd_ >= 0 ? ::close(fd_) : 0;
  fd_ = -1;
  return rc;
}

}  // namespace certinbox::base
