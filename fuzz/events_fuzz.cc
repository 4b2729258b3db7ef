// The events the SDK parses: one message on the publish socket, as a plugin's Subscriber
// receives it (plugins/sdk/client.h Subscriber::Receive: topic frame, JSON body, extra frames),
// then what certinbox-exec makes of the event (its environment and command,
// plugins/exec/exec_event.h). Anything that can connect to an ipc:// or tcp:// publish endpoint
// the plugins subscribe to can send such frames.
//
// Input: the frames of one message, separated by NUL bytes (JSON and topics hold none), at most
// 16; they go out of an in-process XPUB socket to the Subscriber.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "plugins/exec/exec_event.h"
#include "plugins/sdk/client.h"

namespace {

using namespace certinbox;
using namespace std::chrono_literals;

constexpr size_t kMaxFrames = 16;

struct Bus {
  zmq::context_t context{1};
  zmq::socket_t publisher{context, zmq::socket_type::xpub};
  std::optional<sdk::Subscriber> subscriber;
  exec::ExecOptions options;

  Bus() {
    publisher.set(zmq::sockopt::linger, 0);
    publisher.bind("inproc://certinbox-fuzz-events");
    subscriber.emplace(context, "inproc://certinbox-fuzz-events", std::vector<std::string>{""});
    // The subscription reaches the XPUB as a message: once read, nothing sent is dropped.
    zmq::pollitem_t item{publisher.handle(), 0, ZMQ_POLLIN, 0};
    zmq::message_t subscription;
    if (zmq::poll(&item, 1, 10s) != 1 || !publisher.recv(subscription)) {
      std::fprintf(stderr, "events fuzz: the subscriber did not subscribe within 10 s\n");
      std::abort();
    }
    options.program = std::vector<std::string>{"handler", "--flag"};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Bus bus;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> frames;
  while (frames.size() + 1 < kMaxFrames) {
    size_t end = rest.find('\0');
    if (end == std::string_view::npos) break;
    frames.push_back(rest.substr(0, end));
    rest.remove_prefix(end + 1);
  }
  frames.push_back(rest);
  for (size_t i = 0; i < frames.size(); ++i) {
    bool more = i + 1 < frames.size();
    bus.publisher.send(zmq::buffer(frames[i]),
                       more ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  // The message is in the in-process pipe already; the wait only bounds a broken run. A signal
  // (libFuzzer's SIGALRM watchdog) may interrupt the poll before anything was read: try again.
  std::optional<sdk::EventMessage> message;
  for (int attempt = 0;; ++attempt) {
    try {
      message = bus.subscriber->Receive(10s);
      break;
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR || attempt == 100) throw;
    }
  }
  if (!message) return 0;
  (void)message->seq();
  (void)exec::EventEnvironment(message->body);
  (void)exec::CommandFor(bus.options, message->body);
  return 0;
}
