// duel::Error and the helpers that build its messages.
//
// Every public function checks its arguments and throws duel::Error with the op's name, the
// offending shapes/dtypes/devices and, where one helps, a hint. The CLI prints what() on one line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace duel {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// str_cat(a, b, c) streams every argument into one string.
template <class... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(str_cat(std::forward<Args>(args)...));
}

}  // namespace duel

// DUEL_CHECK(cond, "conv2d: ", "weight must be 4-D, got ", shape_str(w.shape()))
#define DUEL_CHECK(cond, ...)                     \
  do {                                            \
    if (!(cond)) ::duel::fail(__VA_ARGS__);       \
  } while (0)
