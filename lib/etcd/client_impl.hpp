// What Client and Watch share inside lib/etcd: the client's state and one attempt on an endpoint.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/etcd/client.hpp"
#include "lib/etcd/transport.hpp"
#include "lib/etcd/wire.hpp"

namespace weir::etcd::detail {

// What one endpoint made of a request.
struct Outcome {
  enum class Kind {
    kAnswer,    // `answer` holds etcd's answer
    kError,     // `error` holds an etcd error (code 102): final, not retried elsewhere
    kUnusable,  // `reason` says why this endpoint could not serve: try the next one
  };
  Kind kind = Kind::kUnusable;
  wire::json answer;
  cni::Error error;
  std::string reason;
};

// What a gateway answer means, from `endpoint` (shared by the calls and the watch's first line).
Outcome interpret(const std::string& endpoint, long http_status, const std::string& body);
// The code 102 error of an etcd error answer; its details say the gRPC status.
cni::Error etcd_error(const std::string& endpoint, const wire::GrpcError& e);
// The code 11 error when no endpoint could serve: "etcd: no endpoint answered: <ep> (<why>), …".
cni::Error no_endpoint(const std::vector<std::string>& failures);

}  // namespace weir::etcd::detail

namespace weir::etcd {

struct Client::Impl {
  Config config;
  std::vector<std::string> bases;  // the endpoints without a trailing '/'
  std::unique_ptr<detail::Connection> connection;
  size_t preferred = 0;  // the endpoint that answered last
  uint64_t requests = 0;

  // POSTs `body` to `path` on each endpoint in turn from `preferred` until one answers.
  Expected<wire::json> call(const char* path, const wire::json& body);
};

}  // namespace weir::etcd
