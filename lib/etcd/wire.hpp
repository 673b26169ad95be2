// The JSON of etcd's gRPC gateway (etcd 3.4, api/etcdserverpb/rpc.proto mapped by grpc-gateway):
// request bodies built from the client's types, answers read back into them. No I/O.
//
// proto3 JSON: bytes are standard base64 with padding, int64/uint64 are strings (numbers are
// accepted too), and a field at its default (0, false, "", empty list) is left out, so every
// reader treats "absent" as the default.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/etcd/client.hpp"

namespace weir::etcd::wire {

using nlohmann::json;

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);  // nullopt: not base64

json range_request(const RangeRequest& request);
json put_request(std::string_view key, std::string_view value, int64_t lease);
json delete_request(std::string_view key, std::string_view range_end);
json txn_request(const std::vector<Compare>& compares, const std::vector<Op>& success,
                 const std::vector<Op>& failure);
json watch_request(std::string_view key, std::string_view range_end, int64_t start_revision);

// Reads fields of an answer, remembering the first one that was malformed (an answer that is not
// what etcd sends is a store error, not a crash).
class Reader {
 public:
  int64_t i64(const json& object, const char* name);
  uint64_t u64(const json& object, const char* name);
  bool flag(const json& object, const char* name);
  std::string bytes(const json& object, const char* name);  // a base64 field, decoded
  std::string text(const json& object, const char* name);
  const json& object(const json& object, const char* name);  // null when absent
  const json& array(const json& object, const char* name);   // null when absent

  void fail(std::string what);
  const std::string& error() const { return error_; }

 private:
  const json* field(const json& object, const char* name);
  std::string error_;
};

KeyValue read_kv(Reader& r, const json& kv);
RangeResult read_range(Reader& r, const json& answer);  // a RangeResponse
TxnResult read_txn(Reader& r, const json& answer);
WatchEvent read_event(Reader& r, const json& event);

// An error in a gateway answer: {"error":"…","message":"…","code":N} (unary calls, HTTP 4xx/5xx)
// or {"error":{"grpc_code":N,"message":"…",…}} (a line of a stream). nullopt when `answer` is
// not one.
struct GrpcError {
  int code = 0;  // gRPC status code: 14 UNAVAILABLE, 11 OUT_OF_RANGE (compacted), 5 NOT_FOUND…
  std::string message;
};
std::optional<GrpcError> grpc_error(const json& answer);

}  // namespace weir::etcd::wire
