// What every grownet shim's C ABI shares: C++ exceptions become a malloc'd message in `*err`
// (freed by the shim's `*_free_message`), so nothing unwinds into Rust.
#pragma once
#include <cstdlib>
#include <cstring>
#include <string>

#include <c10/util/Exception.h>

static char *copy_message(const std::string &s) {
  char *out = static_cast<char *>(std::malloc(s.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, s.c_str(), s.size() + 1);
  }
  return out;
}

// Runs `f`, turning any exception into a message in `*err` (and returning 1); `shim` names the
// shim in the message of an exception that is no std::exception.
template <typename F> static int guarded_in(const char *shim, char **err, F f) {
  try {
    f();
    return 0;
  } catch (const c10::Error &e) {
    *err = copy_message(e.what_without_backtrace());
  } catch (const std::exception &e) {
    *err = copy_message(e.what());
  } catch (...) {
    *err = copy_message(std::string("unknown C++ exception in ") + shim);
  }
  return 1;
}
