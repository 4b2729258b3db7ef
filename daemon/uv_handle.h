// Owning pointer for libuv handles (the cmUVHandlePtr pattern): the handle lives on the heap,
// the deleter calls uv_close and the close callback frees it. The loop's owner runs the loop
// until pending closes finish before uv_loop_close.
#pragma once

#include <uv.h>

#include <memory>

namespace certinbox::daemon {

template <class T>
struct UvCloser {
  void operator()(T* handle) const noexcept {
    uv_close(reinterpret_cast<uv_handle_t*>(handle),
             [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
  }
};

template <class T>
using UvHandle = std::unique_ptr<T, UvCloser<T>>;

// A new, uninitialised handle; call uv_*_init on it before it is closed.
template <class T>
T* NewUvHandle() {
  return new T{};
}

}  // namespace certinbox::daemon
