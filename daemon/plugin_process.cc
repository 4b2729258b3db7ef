#include "daemon/plugin_process.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>

namespace certinbox::daemon {

PluginProcess::PluginProcess(uv_loop_t* loop, std::shared_ptr<PluginLog> log)
    : loop_(loop), log_(std::move(log)) {
  process_.data = this;
  for (Stream* stream : {&out_, &err_}) {
    uv_pipe_init(loop_, &stream->pipe, 0);
    stream->pipe.data = stream;
    stream->process = this;
    stream->open = true;
  }
}

int PluginProcess::Spawn(const Spec& spec, ExitCallback on_exit) {
  on_exit_ = std::move(on_exit);
  std::string file = spec.file.string();
  std::vector<std::string> arg_strings = spec.args;
  std::vector<char*> args;
  for (auto& s : arg_strings) args.push_back(s.data());
  args.push_back(nullptr);
  std::vector<std::string> env_strings = spec.env;
  std::vector<char*> env;
  for (auto& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  std::string cwd = spec.cwd.string();

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;  // /dev/null
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&out_.pipe);
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&err_.pipe);
  uv_process_options_t options{};
  options.file = file.c_str();
  options.args = args.data();
  options.env = env.data();
  options.cwd = cwd.c_str();
  options.flags = UV_PROCESS_DETACHED;  // its own session and process group
  if (spec.uid) {
    options.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
    options.uid = *spec.uid;
    options.gid = spec.gid;
  }
  options.stdio_count = 3;
  options.stdio = stdio;
  options.exit_cb = [](uv_process_t* process, int64_t exit_status, int term_signal) {
    static_cast<PluginProcess*>(process->data)->OnExit(exit_status, term_signal);
  };
  process_open_ = true;
  int rc = uv_spawn(loop_, &process_, &options);
  if (rc != 0) {
    for (Stream* stream : {&out_, &err_}) Close(reinterpret_cast<uv_handle_t*>(&stream->pipe));
    Close(reinterpret_cast<uv_handle_t*>(&process_));
    return rc;
  }
  StartReading(out_);
  StartReading(err_);
  return 0;
}

void PluginProcess::OnExit(int64_t exit_status, int term_signal) {
  // Whatever the plugin left in its group goes with it.
  ::kill(-process_.pid, SIGKILL);
  DrainAndClose(out_);
  DrainAndClose(err_);
  Close(reinterpret_cast<uv_handle_t*>(&process_));
  // Still alive: the close callbacks run on a later turn of the loop.
  if (on_exit_) on_exit_(*this, exit_status, term_signal);
}

void PluginProcess::Close(uv_handle_t* handle) {
  uv_close(handle, [](uv_handle_t* closed) {
    PluginProcess* self = nullptr;
    if (uv_handle_get_type(closed) == UV_PROCESS) {
      self = static_cast<PluginProcess*>(closed->data);
      self->process_open_ = false;
    } else {
      auto* stream = static_cast<Stream*>(closed->data);
      self = stream->process;
      stream->open = false;
    }
    if (!self->process_open_ && !self->out_.open && !self->err_.open) delete self;
  });
}

void PluginProcess::Feed(Stream& stream, const char* data, size_t size) {
  while (size > 0) {
    const char* newline = static_cast<const char*>(std::memchr(data, '\n', size));
    size_t take = newline ? static_cast<size_t>(newline - data) : size;
    if (!stream.skipping) {
      size_t room = kMaxLineBytes - stream.partial.size();
      stream.partial.append(data, std::min(take, room));
      if (take > room) {
        log_->Line(uv_now(loop_), stream.partial + " [line cut at 4 KiB]");
        stream.partial.clear();
        stream.skipping = true;
      }
    }
    if (!newline) return;
    if (!stream.skipping) log_->Line(uv_now(loop_), stream.partial);
    stream.partial.clear();
    stream.skipping = false;
    size -= take + 1;
    data = newline + 1;
  }
}

void PluginProcess::Flush(Stream& stream) {
  if (!stream.skipping && !stream.partial.empty()) {
    log_->Line(uv_now(loop_), stream.partial);
  }
  stream.partial.clear();
}

void PluginProcess::StartReading(Stream& stream) {
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&stream.pipe),
      [](uv_handle_t* handle, size_t, uv_buf_t* buf) {
        auto* s = static_cast<Stream*>(handle->data);
        *buf = uv_buf_init(s->buffer.data(), static_cast<unsigned>(s->buffer.size()));
      },
      [](uv_stream_t* handle, ssize_t nread, const uv_buf_t* buf) {
        auto* s = static_cast<Stream*>(handle->data);
        if (nread > 0) {
          s->process->Feed(*s, buf->base, static_cast<size_t>(nread));
        } else if (nread < 0) {
          s->process->Flush(*s);
          uv_read_stop(handle);
          s->process->Close(reinterpret_cast<uv_handle_t*>(handle));
        }
      });
}

// At exit: what the pipe holds now is read at once, then it is closed, so that a child the
// plugin left behind cannot keep it (and this object) open.
void PluginProcess::DrainAndClose(Stream& stream) {
  if (!stream.open || uv_is_closing(reinterpret_cast<uv_handle_t*>(&stream.pipe))) return;
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&stream.pipe), &fd) == 0) {
    for (int chunks = 0; chunks < 64; ++chunks) {  // bounded: a writer may still be alive
      ssize_t n = ::read(fd, stream.buffer.data(), stream.buffer.size());
      if (n <= 0) break;
      Feed(stream, stream.buffer.data(), static_cast<size_t>(n));
    }
  }
  Flush(stream);
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&stream.pipe));
  Close(reinterpret_cast<uv_handle_t*>(&stream.pipe));
}

}  // namespace certinbox::daemon
