// Owning pointers for libuv handles, after CMake's cmUVHandlePtr: the handle lives on the heap,
// destroying the pointer calls uv_close, and the close callback frees the memory. The loop's owner
// must run the loop until the closes finish before uv_loop_close.
#pragma once

#include <uv.h>

#include <memory>

namespace certinbox::base {

template <typename T>
struct UvHandleDeleter {
  void operator()(T* handle) const noexcept {
    uv_close(reinterpret_cast<uv_handle_t*>(handle),
             [](uv_handle_t* closed) noexcept { delete reinterpret_cast<T*>(closed); });
  }
};

template <typename T>
using UvHandlePtr = std::unique_ptr<T, UvHandleDeleter<T>>;

// A new, uninitialised handle; call uv_*_init on it, then hand it to a UvHandlePtr.
template <typename T>
T* NewUvHandle() {
  return new T{};
}

// A started-or-not uv_timer_t owned by the returned pointer (uv_timer_init cannot fail).
inline UvHandlePtr<uv_timer_t> NewUvTimer(uv_loop_t* loop, void* data) {
  auto* timer = new uv_timer_t;
  uv_timer_init(loop, timer);
  timer->data = data;
  return UvHandlePtr<uv_timer_t>(timer);
}

}  // namespace certinbox::base
