// A ZeroMQ socket monitor that notes when its socket has connected, so the benchmark's SUB
// sockets wait for their connection (with check_event) before anything is published.
#pragma once

#include <zmq.hpp>

namespace certinbox::bench {

class ConnectMonitor : public zmq::monitor_t {
 public:
  void on_event_connected(const zmq_event_t&, const char*) override { connected = true; }
  bool connected = false;
};

}  // namespace certinbox::bench
