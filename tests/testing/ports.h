// Loopback ports for tests that start servers (nginx, Prometheus, certinboxd's HTTP listener).
#pragma once

namespace certinbox::testing {

// A loopback port nobody listens on now (the kernel's pick; the server binds it a moment later).
// -1 when the kernel gave none.
int FreeLoopbackPort();

// A TCP connection to 127.0.0.1:`port` (its descriptor, close-on-exec), or -1 when nothing
// accepts it.
int ConnectLoopback(int port);

// True when something accepts a TCP connection on 127.0.0.1:`port` now.
bool Accepts(int port);

}  // namespace certinbox::testing
