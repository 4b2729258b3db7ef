// Process exit and OpenSSL. Internal to the pipeline.
#pragma once

namespace certinbox::pipeline {

// True once the process has begun to exit and OpenSSL is about to be (or has been) torn down
// by its own exit handler. Per-thread caches of libuv's pool threads are destroyed after
// that, when the pool is joined; they then let go of their OpenSSL objects without freeing
// them, since freeing into a cleaned-up library would crash. Set by LoadOpensslProviders'
// exit handler.
bool OpensslShuttingDown();

}  // namespace certinbox::pipeline
