#include "lib/etcd/wire.hpp"

#include <array>
#include <charconv>

namespace weir::etcd::wire {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The value of a base64 digit, -1 for anything else.
constexpr std::array<int8_t, 256> kDigits = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (size_t i = 0; i < kAlphabet.size(); ++i) t[static_cast<uint8_t>(kAlphabet[i])] = int8_t(i);
  return t;
}();

std::string number(int64_t n) {
  return std::to_string(n);
}

const char* target_name(Compare::Target t) {
  switch (t) {
    case Compare::Target::kCreate:
      return "CREATE";
    case Compare::Target::kMod:
      return "MOD";
    case Compare::Target::kVersion:
      return "VERSION";
    case Compare::Target::kValue:
      return "VALUE";
  }
  return "MOD";
}

const char* result_name(Compare::Result r) {
  switch (r) {
    case Compare::Result::kEqual:
      return "EQUAL";
    case Compare::Result::kNotEqual:
      return "NOT_EQUAL";
    case Compare::Result::kLess:
      return "LESS";
    case Compare::Result::kGreater:
      return "GREATER";
  }
  return "EQUAL";
}

json compare_json(const Compare& c) {
  json j = {{"key", base64_encode(c.key)},
            {"target", target_name(c.target)},
            {"result", result_name(c.result)}};
  if (!c.range_end.empty()) j["range_end"] = base64_encode(c.range_end);
  switch (c.target) {
    case Compare::Target::kCreate:
      j["create_revision"] = number(c.number);
      break;
    case Compare::Target::kMod:
      j["mod_revision"] = number(c.number);
      break;
    case Compare::Target::kVersion:
      j["version"] = number(c.number);
      break;
    case Compare::Target::kValue:
      j["value"] = base64_encode(c.value);
      break;
  }
  return j;
}

json op_json(const Op& op) {
  switch (op.kind) {
    case Op::Kind::kPut:
      return {{"request_put", put_request(op.key, op.value, op.lease)}};
    case Op::Kind::kDelete:
      return {{"request_delete_range", delete_request(op.key, op.range_end)}};
    case Op::Kind::kRange:
      return {{"request_range", range_request({op.key, op.range_end})}};
  }
  return json::object();
}

json ops_json(const std::vector<Op>& ops) {
  json a = json::array();
  for (const auto& op : ops) a.push_back(op_json(op));
  return a;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 |
                       uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (rest == 2) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      const int d = kDigits[uint8_t(c)];
      if (d < 0 || pad > 0) return std::nullopt;  // not a digit, or a digit after '='
      v = v << 6 | uint32_t(d);
    }
    out += char(v >> 16);
    if (pad < 2) out += char(v >> 8 & 0xff);
    if (pad < 1) out += char(v & 0xff);
  }
  return out;
}

json range_request(const RangeRequest& request) {
  json j = {{"key", base64_encode(request.key)}};
  if (!request.range_end.empty()) j["range_end"] = base64_encode(request.range_end);
  if (request.limit > 0) j["limit"] = number(request.limit);
  if (request.revision > 0) j["revision"] = number(request.revision);
  if (request.keys_only) j["keys_only"] = true;
  if (request.count_only) j["count_only"] = true;
  return j;
}

json put_request(std::string_view key, std::string_view value, int64_t lease) {
  json j = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) j["lease"] = number(lease);
  return j;
}

json delete_request(std::string_view key, std::string_view range_end) {
  json j = {{"key", base64_encode(key)}};
  if (!range_end.empty()) j["range_end"] = base64_encode(range_end);
  return j;
}

json txn_request(const std::vector<Compare>& compares, const std::vector<Op>& success,
                 const std::vector<Op>& failure) {
  json c = json::array();
  for (const auto& compare : compares) c.push_back(compare_json(compare));
  return {
      {"compare", std::move(c)}, {"success", ops_json(success)}, {"failure", ops_json(failure)}};
}

json watch_request(std::string_view key, std::string_view range_end, int64_t start_revision) {
  json create = {{"key", base64_encode(key)}};
  if (!range_end.empty()) create["range_end"] = base64_encode(range_end);
  if (start_revision > 0) create["start_revision"] = number(start_revision);
  return {{"create_request", std::move(create)}};
}

const json* Reader::field(const json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

void Reader::fail(std::string what) {
  if (error_.empty()) error_ = std::move(what);
}

int64_t Reader::i64(const json& object, const char* name) {
  const json* f = field(object, name);
  if (f == nullptr) return 0;
  if (f->is_number_integer()) return f->get<int64_t>();
  if (f->is_string()) {
    const auto& s = f->get_ref<const std::string&>();
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return v;
  }
  fail(std::string("\"") + name + "\" is not an int64: " + f->dump());
  return 0;
}

uint64_t Reader::u64(const json& object, const char* name) {
  const json* f = field(object, name);
  if (f == nullptr) return 0;
  if (f->is_number_unsigned()) return f->get<uint64_t>();
  if (f->is_string()) {
    const auto& s = f->get_ref<const std::string&>();
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return v;
  }
  fail(std::string("\"") + name + "\" is not a uint64: " + f->dump());
  return 0;
}

bool Reader::flag(const json& object, const char* name) {
  const json* f = field(object, name);
  if (f == nullptr) return false;
  if (f->is_boolean()) return f->get<bool>();
  fail(std::string("\"") + name + "\" is not a boolean: " + f->dump());
  return false;
}

std::string Reader::text(const json& object, const char* name) {
  const json* f = field(object, name);
  if (f == nullptr) return {};
  if (f->is_string()) return f->get<std::string>();
  fail(std::string("\"") + name + "\" is not a string: " + f->dump());
  return {};
}

std::string Reader::bytes(const json& object, const char* name) {
  const json* f = field(object, name);
  if (f == nullptr) return {};
  if (f->is_string()) {
    if (auto b = base64_decode(f->get_ref<const std::string&>())) return std::move(*b);
  }
  fail(std::string("\"") + name + "\" is not base64: " + f->dump());
  return {};
}

const json& Reader::object(const json& object, const char* name) {
  static const json kNull;
  const json* f = field(object, name);
  if (f == nullptr) return kNull;
  if (f->is_object()) return *f;
  fail(std::string("\"") + name + "\" is not an object: " + f->dump());
  return kNull;
}

const json& Reader::array(const json& object, const char* name) {
  static const json kNull;
  const json* f = field(object, name);
  if (f == nullptr) return kNull;
  if (f->is_array()) return *f;
  fail(std::string("\"") + name + "\" is not a list: " + f->dump());
  return kNull;
}

KeyValue read_kv(Reader& r, const json& kv) {
  return {.key = r.bytes(kv, "key"),
          .value = r.bytes(kv, "value"),
          .create_revision = r.i64(kv, "create_revision"),
          .mod_revision = r.i64(kv, "mod_revision"),
          .version = r.i64(kv, "version"),
          .lease = r.i64(kv, "lease")};
}

RangeResult read_range(Reader& r, const json& answer) {
  RangeResult result;
  result.revision = r.i64(r.object(answer, "header"), "revision");
  for (const auto& kv : r.array(answer, "kvs")) result.kvs.push_back(read_kv(r, kv));
  result.count = r.i64(answer, "count");
  result.more = r.flag(answer, "more");
  return result;
}

TxnResult read_txn(Reader& r, const json& answer) {
  TxnResult result;
  result.succeeded = r.flag(answer, "succeeded");
  result.revision = r.i64(r.object(answer, "header"), "revision");
  for (const auto& response : r.array(answer, "responses")) {
    if (const json& range = r.object(response, "response_range"); !range.is_null()) {
      result.ranges.push_back(read_range(r, range));
    }
  }
  return result;
}

WatchEvent read_event(Reader& r, const json& event) {
  WatchEvent e;
  const std::string type = r.text(event, "type");
  if (type == "DELETE") {
    e.type = WatchEvent::Type::kDelete;
  } else if (!type.empty() && type != "PUT") {
    r.fail("unknown watch event type \"" + type + "\"");
  }
  e.kv = read_kv(r, r.object(event, "kv"));
  return e;
}

std::optional<GrpcError> grpc_error(const json& answer) {
  if (!answer.is_object()) return std::nullopt;
  auto it = answer.find("error");
  if (it == answer.end()) return std::nullopt;
  const json* body = nullptr;
  const char* code_name = nullptr;
  if (it->is_object()) {
    body = &*it;  // a stream's line
    code_name = "grpc_code";
  } else if (answer.contains("code")) {
    body = &answer;  // a unary call's answer
    code_name = "code";
  } else {
    return std::nullopt;
  }
  GrpcError e;
  auto code = body->find(code_name);
  if (code != body->end() && code->is_number_integer()) e.code = code->get<int>();
  auto message = body->find("message");
  if (message != body->end() && message->is_string()) e.message = message->get<std::string>();
  if (e.message.empty() && it->is_string()) e.message = it->get<std::string>();
  if (e.message.empty()) e.message = "gRPC status " + std::to_string(e.code);
  return e;
}

}  // namespace weir::etcd::wire
