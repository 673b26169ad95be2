// The one error type of weir. It speaks the CNI spec's error codes (SPEC.md "Error" section)
// so that the plugin edge can print it unchanged, and it keeps errno so that callers branch on
// the cause, never on message text.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace weir::cni {

// Spec codes 1-99 are reserved by CNI; 100+ are weir's own.
enum class Code : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnv = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kNotAvailable = 50,         // STATUS: plugin cannot serve ADDs now
  kLimitedConnectivity = 51,  // STATUS: ADDs work, but the network is degraded
  kKernel = 100,              // a netlink or syscall request failed
  kCheckFailed = 101,         // CHECK found state that differs from what ADD made
  kStore = 102,               // the state store failed
  kAddressInUse = 103,        // a requested address is already leased, a host port published
  kPluginFailed = 104,        // a delegated plugin failed without a usable error
  kInternal = 999,
};

struct Error {
  Code code = Code::kInternal;
  std::string msg;
  std::string details;
  int sys_errno = 0;  // 0 when the cause is not a system call

  // Prepends where it happened: "create veth \"eth0\": File exists".
  Error& context(std::string_view what) & {
    msg = std::string(what) + ": " + msg;
    return *this;
  }
  Error&& context(std::string_view what) && { return std::move(context(what)); }

  int code_value() const { return static_cast<int>(code); }
};

inline Error make_error(Code code, std::string msg, std::string details = {}) {
  return Error{code, std::move(msg), std::move(details), 0};
}
inline Error incompatible_version(std::string msg, std::string details = {}) {
  return make_error(Code::kIncompatibleVersion, std::move(msg), std::move(details));
}
inline Error unsupported_field(std::string msg, std::string details = {}) {
  return make_error(Code::kUnsupportedField, std::move(msg), std::move(details));
}
inline Error unknown_container(std::string msg, std::string details = {}) {
  return make_error(Code::kUnknownContainer, std::move(msg), std::move(details));
}
inline Error invalid_env(std::string msg, std::string details = {}) {
  return make_error(Code::kInvalidEnv, std::move(msg), std::move(details));
}
inline Error io_failure(std::string msg, std::string details = {}) {
  return make_error(Code::kIoFailure, std::move(msg), std::move(details));
}
inline Error decode_failure(std::string msg, std::string details = {}) {
  return make_error(Code::kDecodeFailure, std::move(msg), std::move(details));
}
inline Error invalid_config(std::string msg, std::string details = {}) {
  return make_error(Code::kInvalidConfig, std::move(msg), std::move(details));
}
inline Error try_again_later(std::string msg, std::string details = {}) {
  return make_error(Code::kTryAgainLater, std::move(msg), std::move(details));
}
inline Error not_available(std::string msg, std::string details = {}) {
  return make_error(Code::kNotAvailable, std::move(msg), std::move(details));
}
inline Error check_failed(std::string msg, std::string details = {}) {
  return make_error(Code::kCheckFailed, std::move(msg), std::move(details));
}
inline Error internal(std::string msg, std::string details = {}) {
  return make_error(Code::kInternal, std::move(msg), std::move(details));
}
// A failed system call or kernel request; keeps errno and appends strerror.
Error sys_error(int err, std::string_view what, Code code = Code::kKernel);

// "name" with its double quotes, for error messages.
std::string quoted(std::string_view s);

}  // namespace weir::cni

namespace weir {

// A value or the CNI error that stands in for it. [[nodiscard]]: an error dropped on the floor is
// a failure nobody hears of; a call whose result may be ignored on purpose says so with (void).
template <class T = void>
class [[nodiscard]] Expected : public std::expected<T, cni::Error> {
  using Base = std::expected<T, cni::Error>;

 public:
  using Base::Base;
  Expected() = default;
  Expected(Base b) : Base(std::move(b)) {}  // what and_then/transform/or_else return
};

inline std::unexpected<cni::Error> fail(cni::Error e) { return std::unexpected(std::move(e)); }

}  // namespace weir
