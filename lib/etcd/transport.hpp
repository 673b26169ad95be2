// libcurl for the client: one easy handle set up for etcd (TLS files, timeouts, no signals, no
// proxy, HTTP/1.1), and why an attempt failed, in words. Only lib/etcd includes curl.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <expected>
#include <memory>
#include <string>

#include "lib/etcd/client.hpp"

namespace weir::etcd::detail {

// curl_global_init, once per process (it is not thread-safe on its own).
void global_init();

struct Answer {
  long status = 0;  // HTTP status
  std::string body;
};

// One curl easy handle and what it needs to outlive each transfer (headers, error buffer, the
// answer received). Not movable: curl keeps pointers into it.
class Connection {
 public:
  // `stream`: a watch, whose transfer has no overall timeout (only the connect one) and whose
  // idle TCP connection is probed by keepalives.
  Connection(const Config& config, bool stream);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sets up one POST (for curl_easy_perform or a multi handle); clears the answer.
  void prepare(const std::string& url, const std::string& body);
  // One POST on this handle, reusing its connection: the answer, or why none came.
  std::expected<Answer, std::string> post(const std::string& url, const std::string& body);
  // Why a transfer that ended with `rc` failed ("connection refused", "timed out after 2000 ms").
  std::string failure(CURLcode rc) const;

  CURL* easy() const { return easy_; }
  long status() const;
  std::string& received() { return received_; }

 private:
  static size_t on_data(char* data, size_t size, size_t n, void* self);
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::chrono::milliseconds timeout_;
  std::string received_;
  char errbuf_[CURL_ERROR_SIZE] = {};
};

}  // namespace weir::etcd::detail
